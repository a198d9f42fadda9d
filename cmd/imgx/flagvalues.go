package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flag values that check themselves when they are parsed, so that a bad value is a usage
// error (exit 2) before the command does anything, not a failure halfway through. Their
// Type is the plain type's, so the help reads as before.

// enumValue is a string flag that takes one of a fixed set of words.
type enumValue struct {
	p       *string
	choices []string
}

func newEnum(p *string, def string, choices ...string) *enumValue {
	*p = def
	return &enumValue{p: p, choices: choices}
}

func (v *enumValue) String() string { return *v.p }
func (v *enumValue) Type() string   { return "string" }

func (v *enumValue) Set(s string) error {
	if !slices.Contains(v.choices, s) {
		return fmt.Errorf("want %s", orList(v.choices))
	}
	*v.p = s
	return nil
}

// intRange is an int flag with a lower bound.
type intRange struct {
	p   *int
	min int
}

func newIntRange(p *int, def, min int) *intRange {
	*p = def
	return &intRange{p: p, min: min}
}

func (v *intRange) String() string { return strconv.Itoa(*v.p) }
func (v *intRange) Type() string   { return "int" }

func (v *intRange) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < v.min {
		return fmt.Errorf("must be at least %d", v.min)
	}
	*v.p = n
	return nil
}

// durationMin is a duration flag with a lower bound.
type durationMin struct {
	p   *time.Duration
	min time.Duration
}

func newDurationMin(p *time.Duration, def, min time.Duration) *durationMin {
	*p = def
	return &durationMin{p: p, min: min}
}

func (v *durationMin) String() string { return v.p.String() }
func (v *durationMin) Type() string   { return "duration" }

func (v *durationMin) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (e.g. 30s, 2m)")
	}
	if d < v.min {
		return fmt.Errorf("must be at least %s", v.min)
	}
	*v.p = d
	return nil
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
