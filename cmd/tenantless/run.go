package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env is everything run takes from the process, so tests can supply their own.
type env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Ready, if set, is called with the listen address once serve accepts
	// connections.
	Ready func(addr string)
}

// errUsage marks errors caused by a wrong command line (exit code 2).
// Wrap it first, fmt.Errorf("%w: ...", errUsage), or use usagef; the
// "usage: " prefix is not printed.
var errUsage = errors.New("usage")

// usageError is a usage error with its message.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// usagef returns a usage error (exit code 2) saying what to change.
func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

const mainUsage = `tenantless runs a local OAuth 2.1 authorization server and a protected MCP
server in one process, with all state in one SQLite file (or in a PostgreSQL
database that several instances share: --db postgres://...).

Usage:
  tenantless [command] [flags]

Commands:
  serve     run the server (the default when no command is given)
  user      add, list, change or delete users:   user add|list|passwd|delete
  client    register, show, list or delete clients: client add|list|show|delete
  initial-token
            tokens that allow dynamic client registration with --registration=token:
            initial-token add|list|delete
  grant     list or revoke grants:               grant list|revoke
  audit     show the audit log
  keys      list or rotate the token signing keys:  keys list|rotate
  resource  MCP servers tokens are issued for:    resource add|list|show|delete
  token     mint an access token for testing with curl
  trace     show the live auth trace of the running server: trace [--follow] [--client ID] [--json]
  fault     inject a fault to test a client:  fault expire|revoke|rotate-key|step-up|token-503|token-invalid-grant|delay --client ID
  version   print the version

Run "tenantless <command> --help" for a command's flags. Every command takes
--json (print JSON, snake_case keys) and exits 0 on success, 1 on failure and
2 on a usage error. Every flag can also be set with an environment variable
named TENANTLESS_<FLAG>, for example TENANTLESS_DB=/tmp/t.db. Flags win over
the environment.
`

// run executes one command line and returns the process exit code:
// 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.Stderr, "tenantless: %s\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return 2
	default:
		fmt.Fprintf(e.Stderr, "tenantless: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(e.Stdout, mainUsage)
			return nil
		}
		if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
			return versionCmd(ctx, args[1:], e)
		}
		return serve(ctx, args, e)
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		if len(rest) == 0 {
			fmt.Fprint(e.Stdout, mainUsage)
			return nil
		}
		// "tenantless help user" is "tenantless user --help".
		name, rest = rest[0], []string{"--help"}
	}
	if c, ok := lookupCommand(name); ok {
		return c.run(ctx, rest, e)
	}
	return usagef("unknown command %q (run \"tenantless --help\" for the list)", name)
}

// versionCmd prints the version.
func versionCmd(_ context.Context, args []string, e env) error {
	fs := flagSet(e, "version", "Usage:\n  tenantless version [--json]   print the version\n")
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("version takes no arguments, got %q", pos)
	}
	if *asJSON {
		return printJSON(e.Stdout, map[string]string{"version": version, "go_version": runtime.Version()})
	}
	fmt.Fprintf(e.Stdout, "tenantless %s\n", version)
	return nil
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// flagSet makes a FlagSet whose usage text is usage followed by the flags.
// parse prints it on --help; a flag error prints one line, not the text.
func flagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// jsonFlag adds the --json flag every command that prints takes.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON (snake_case keys) instead of text")
}

// parse parses args, flags and positional arguments in any order, and
// returns the positional ones. --help prints the usage text on stdout and
// returns flag.ErrHelp (exit 0); a flag error becomes a one-line usage
// error (exit 2). Flags not given on the command line fall back to their
// TENANTLESS_* environment variables.
func parse(fs *flag.FlagSet, args []string, e env) ([]string, error) {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(e.Stderr) }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(e.Stdout)
				usage()
				return nil, err
			}
			return nil, flagError(fs, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := "TENANTLESS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := e.Getenv(name); v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = usagef("%s=%q: %s", name, v, valueHint(f, serr))
			}
		}
	})
	return pos, err
}

// flagError turns an error of the flag package into a usage error that
// says what to change, in one line.
func flagError(fs *flag.FlagSet, err error) error {
	help := fmt.Sprintf("run \"tenantless %s --help\" for its flags", fs.Name())
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return usagef("unknown flag --%s (%s)", strings.TrimLeft(name, "-"), help)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return usagef("flag --%s needs a value (%s)", strings.TrimLeft(name, "-"), help)
	}
	// invalid value "x" for flag -since: parse error
	// invalid boolean value "x" for -json: parse error
	if i := strings.Index(msg, " for "); strings.HasPrefix(msg, "invalid ") && i > 0 {
		rest := strings.TrimPrefix(msg[i+len(" for "):], "flag ")
		name, _, _ := strings.Cut(strings.TrimLeft(rest, "-"), ":")
		value := ""
		if q := strings.Index(msg, "\""); q >= 0 {
			if j := strings.Index(msg[q+1:], "\""); j >= 0 {
				value = msg[q+1 : q+1+j]
			}
		}
		if f := fs.Lookup(name); f != nil {
			return usagef("--%s %q: %s", name, value, valueHint(f, nil))
		}
	}
	return usagef("%s (%s)", strings.ReplaceAll(msg, " -", " --"), help)
}

// valueHint says which values a flag takes, with an example.
func valueHint(f *flag.Flag, err error) string {
	g, _ := f.Value.(flag.Getter)
	var v any
	if g != nil {
		v = g.Get()
	}
	switch v.(type) {
	case time.Duration:
		return "not a duration: write a number with a unit, for example 90s, 15m, 24h or 720h"
	case bool:
		return "not a boolean: use true or false (or give the flag alone)"
	case int, int64, uint, uint64:
		return "not a whole number, for example 100"
	case float64:
		return "not a number, for example 1.5"
	}
	if err != nil {
		return err.Error()
	}
	return "invalid value"
}

// subcommand parses "SUB [ARGS] [FLAGS]" of an administration command
// whose flags are already defined on fs, whose name is the command's;
// flags may come anywhere, before SUB too. It prints usage for help
// (returning flag.ErrHelp, which exits 0), checks SUB and its number of
// positional arguments against the command table and returns SUB and its
// positional arguments.
func subcommand(fs *flag.FlagSet, e env, args []string) (subcommandSpec, []string, error) {
	c, _ := lookupCommand(fs.Name())
	if len(args) > 0 && args[0] == "help" {
		args = []string{"--help"}
	}
	pos, err := parse(fs, args, e)
	if err != nil {
		return subcommandSpec{}, nil, err
	}
	if len(pos) == 0 {
		return subcommandSpec{}, nil, usagef("%s needs a subcommand: %s (run \"tenantless %s --help\")", c.name, c.subNames(), c.name)
	}
	sub, ok := c.sub(pos[0])
	if !ok {
		return subcommandSpec{}, nil, usagef("unknown %s subcommand %q: use %s", c.name, pos[0], c.subNames())
	}
	pos = pos[1:]
	if len(pos) != len(sub.args) {
		want := "no arguments"
		if len(sub.args) > 0 {
			want = strings.Join(sub.args, " ")
		}
		return sub, nil, usagef("%s %s takes %s, got %q (run \"tenantless %s --help\")", c.name, sub.name, want, pos, c.name)
	}
	return sub, pos, nil
}

// dbFlag adds the --db flag every command takes.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "./tenantless.db", dbUsage)
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, termIsTerminal(fd)
}
