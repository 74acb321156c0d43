package testdb

import (
	"fmt"
	"testing"
)

// MainTB is a testing.TB for TestMain, where Example functions find what they run against
// (they have no *testing.T of their own): its Fatalf panics and its cleanups run at Close.
// Only the methods the test helpers use are implemented; the others panic.
type MainTB struct {
	testing.TB
	cleanups []func()
}

// Helper does nothing.
func (m *MainTB) Helper() {}

// Name names the databases it makes.
func (m *MainTB) Name() string { return "example" }

// Fatalf panics: the examples cannot run.
func (m *MainTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Errorf panics too.
func (m *MainTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Logf drops the line.
func (m *MainTB) Logf(string, ...any) {}

// Cleanup runs f at Close.
func (m *MainTB) Cleanup(f func()) { m.cleanups = append(m.cleanups, f) }

// Close runs the cleanups, last registered first.
func (m *MainTB) Close() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
	m.cleanups = nil
}
