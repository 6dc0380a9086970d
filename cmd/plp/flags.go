package main

import (
	"cmp"
	"fmt"
	"math"

	"github.com/urfave/cli/v3"
)

// Every numeric flag of plp carries one of these validators (a test walks the command tree to make sure),
// so that a value out of range is refused while the command line is parsed, before any work starts.

// atLeast accepts values >= lo.
func atLeast[T cmp.Ordered](lo T) func(T) error {
	return func(v T) error {
		if v < lo || v != v { // v != v: NaN
			return fmt.Errorf("want a value >= %v, got %v", lo, v)
		}
		return nil
	}
}

// between accepts values in [lo, hi].
func between[T cmp.Ordered](lo, hi T) func(T) error {
	return func(v T) error {
		if v < lo || v > hi || v != v {
			return fmt.Errorf("want a value in [%v, %v], got %v", lo, hi, v)
		}
		return nil
	}
}

// positive accepts finite floats > 0.
func positive(v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("want a positive number, got %v", v)
	}
	return nil
}

// nonNegative accepts finite floats >= 0.
func nonNegative(v float64) error {
	if !(v >= 0) || math.IsInf(v, 0) {
		return fmt.Errorf("want a number >= 0, got %v", v)
	}
	return nil
}

// anySeed accepts every seed; it marks a numeric flag whose whole range is valid.
func anySeed(uint64) error { return nil }

// each applies a validator to every element of a list flag.
func each[T any](f func(T) error) func([]T) error {
	return func(vs []T) error {
		for _, v := range vs {
			if err := f(v); err != nil {
				return err
			}
		}
		return nil
	}
}

// overwriteFlag is the --overwrite flag of every command that writes files: without it an existing output
// is refused.
func overwriteFlag() cli.Flag {
	return &cli.BoolFlag{Name: "overwrite", Usage: "replace existing outputs (files of an earlier run in the output folder are removed)"}
}
