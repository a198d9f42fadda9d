// Command hello is the tiny static program the demo packs into an image: it proves the
// image that arrived is the one that was sent by printing the message baked in at build.
package main

import (
	"fmt"
	"os"
)

var message = "hello from an imgx image"

func main() {
	fmt.Println(message)
	if len(os.Args) > 1 {
		fmt.Println("args:", os.Args[1:])
	}
}
