package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flagSet registers a command's flags on a flag.FlagSet, under every name they have ("q" and
// "queue"), and remembers how to show them in --help.
type flagSet struct {
	fs   *flag.FlagSet
	defs []flagDef
}

// flagDef is how --help shows one flag.
type flagDef struct {
	names []string // short names first, e.g. ["q", "queue"]
	arg   string   // placeholder of the value, e.g. "NAME"; empty for a switch
	usage string
	def   string // shown as "default …" when not empty
	env   string // shown as "env …" when not empty
}

// names splits "q,queue" into its names.
func names(s string) []string { return strings.Split(s, ",") }

func (f *flagSet) add(d flagDef, bind func(name string)) {
	for _, n := range d.names {
		bind(n)
	}
	f.defs = append(f.defs, d)
}

func (f *flagSet) String(p *string, name, arg, def, usage string) {
	f.add(flagDef{names: names(name), arg: arg, usage: usage, def: def}, func(n string) { f.fs.StringVar(p, n, def, usage) })
}

func (f *flagSet) Int(p *int, name, arg string, def int, usage string) {
	f.add(flagDef{names: names(name), arg: arg, usage: usage, def: strconv.Itoa(def)}, func(n string) { f.fs.IntVar(p, n, def, usage) })
}

func (f *flagSet) Bool(p *bool, name, usage string) {
	f.add(flagDef{names: names(name), usage: usage}, func(n string) { f.fs.BoolVar(p, n, false, usage) })
}

func (f *flagSet) Duration(p *time.Duration, name, arg string, def time.Duration, usage, shownDef string) {
	f.add(flagDef{names: names(name), arg: arg, usage: usage, def: shownDef}, func(n string) { f.fs.DurationVar(p, n, def, usage) })
}

// OptionalInt sets *p only when the flag is given, so that "unset" can mean "the server's default".
func (f *flagSet) OptionalInt(p **int32, name, arg, usage string) {
	f.add(flagDef{names: names(name), arg: arg, usage: usage}, func(n string) {
		f.fs.Func(n, usage, func(s string) error {
			v, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", s)
			}
			i := int32(v)
			*p = &i
			return nil
		})
	})
}

// List appends every value given (the flag repeats).
func (f *flagSet) List(p *[]string, name, arg, usage string) {
	f.add(flagDef{names: names(name), arg: arg, usage: usage}, func(n string) {
		f.fs.Func(n, usage, func(s string) error {
			*p = append(*p, s)
			return nil
		})
	})
}

// flagName is how a flag is typed: "-q, --queue NAME".
func (d flagDef) flagName() string {
	var b strings.Builder
	for i, n := range d.names {
		if i > 0 {
			b.WriteString(", ")
		}
		if len(n) == 1 {
			b.WriteString("-" + n)
		} else {
			b.WriteString("--" + n)
		}
	}
	if d.arg != "" {
		b.WriteString(" " + d.arg)
	}
	return b.String()
}

// help is the flag's description with its default and environment variable.
func (d flagDef) help() string {
	var notes []string
	if d.def != "" {
		notes = append(notes, "default "+d.def)
	}
	if d.env != "" {
		notes = append(notes, "env "+d.env)
	}
	if len(notes) == 0 {
		return d.usage
	}
	return d.usage + " (" + strings.Join(notes, "; ") + ")"
}
