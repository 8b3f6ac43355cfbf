// Command poda inspects, prunes, fine-tunes, evaluates, benchmarks and runs
// ONNX models. Each subcommand is a thin layer over Poda's library
// packages: it parses flags, calls the library and prints.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/podaml/poda/train"
)

// command is one subcommand.
type command struct {
	name  string
	usage string // arguments, after the command name
	short string
	long  string
	// flags registers the command's flags and returns the function that
	// runs it with the positional arguments.
	setup func(fs *flag.FlagSet) func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError marks errors caused by how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c := commands[args[1]]; c != nil {
				printHelp(c, stdout)
				return 0
			}
		}
		topUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c := commands[args[0]]
	if c == nil {
		fmt.Fprintf(stderr, "poda: unknown command %q\n\n", args[0])
		topUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("poda "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runFn := c.setup(fs)
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printHelp(c, stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "poda %s: %v\n\n", c.name, err)
		printHelp(c, stderr)
		return 2
	}
	if err := runFn(ctx, pos, stdout); err != nil {
		fmt.Fprintf(stderr, "poda %s: %v\n", c.name, err)
		if errors.Is(err, train.ErrDiverged) {
			fmt.Fprintln(stderr, "hint: lower --lr, set --clip (e.g. 1), or use --optimizer adam; nothing was written")
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "usage: poda %s %s\n", c.name, c.usage)
			return 2
		}
		return 1
	}
	return 0
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`poda prune MODEL -o OUT --sparsity 0.9`). The standard flag
// package stops at the first positional argument, so parsing resumes after
// each one. "--" ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func topUsage(w io.Writer) {
	fmt.Fprintf(w, "Poda prunes trained ONNX models, recovers their accuracy, and runs them.\n\nUsage: poda <command> [arguments]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].short)
	}
	fmt.Fprintf(w, "\nRun 'poda <command> --help' for a command's flags.\n")
}

func printHelp(c *command, w io.Writer) {
	fmt.Fprintf(w, "usage: poda %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.long))
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fs)
	var b strings.Builder
	fs.SetOutput(&b)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := fmt.Sprintf("  %s%s", dash, f.Name)
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(&b, "%-26s %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", b.String())
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
