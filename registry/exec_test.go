package registry_test

import "os/exec"

var execCommand = exec.Command
