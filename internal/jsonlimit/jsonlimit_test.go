package jsonlimit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// values counts the values of a decoded document, nested ones included.
func values(v any) int {
	n := 1
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			n += values(e)
		}
	case map[string]any:
		for _, e := range v {
			n += values(e)
		}
	}
	return n
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want int
	}{
		{`{}`, 1},
		{`[{},{},{}]`, 6},
		{`{"a":"{[,,]}","b":[1,2]}`, 4},
		{`["\"{,", "x"]`, 2},
		{`"just a string"`, 0},
	} {
		if got := Count([]byte(c.doc)); got != c.want {
			t.Errorf("Count(%s) = %d, want %d", c.doc, got, c.want)
		}
	}
	bomb := "[" + strings.Repeat("{},", 1000) + "{}]"
	if err := Check([]byte(bomb), 1000); !errors.Is(err, ErrTooManyValues) {
		t.Errorf("Check(bomb) = %v", err)
	}
	if err := Check([]byte(bomb), 3000); err != nil {
		t.Errorf("Check(bomb, 3000) = %v", err)
	}
}

// FuzzCount checks the bound: a valid document never holds more than Count+1 values.
func FuzzCount(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2,[3,{"a":"b,c"}]]`, `{"a":"\\\"","b":[{},[]]}`, `"x"`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := Count(data)
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		if got := values(v); got > n+1 {
			t.Fatalf("%q holds %d values, Count says at most %d", data, got, n+1)
		}
	})
}
