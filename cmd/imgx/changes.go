package main

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgx/imgx/image/change"
)

func init() {
	parseChanges = func(changes []string) (func(*v1.Config) error, error) {
		ins, err := change.ParseAll(changes)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		return func(cfg *v1.Config) error { return change.Apply(cfg, ins...) }, nil
	}
}
