package local

import (
	"testing"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		b, err := New(t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestConformanceSplit(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Backend {
		b, err := New(t.TempDir(), Options{SplitSize: 100 << 10})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
