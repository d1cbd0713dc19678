package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
var errUsage = errors.New("usage")

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
            tokens that allow dynamic client registration with --registration=token
  grant     list or revoke grants:               grant list|revoke
  audit     show the audit log
  keys      list or rotate the token signing keys:  keys list|rotate
  version   print the version

Run "tenantless <command> --help" for a command's flags. Every flag can also
be set with an environment variable named TENANTLESS_<FLAG>, for example
TENANTLESS_DB=/tmp/t.db. Flags win over the environment.
`

// run executes one command line and returns the process exit code:
// 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.Stderr, "tenantless: %v\n", err)
		return 2
	default:
		fmt.Fprintf(e.Stderr, "tenantless: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(e.Stdout, mainUsage)
			return nil
		}
		return serve(ctx, args, e)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, e)
	case "user":
		return userCmd(ctx, rest, e)
	case "client":
		return clientCmd(ctx, rest, e)
	case "grant":
		return grantCmd(ctx, rest, e)
	case "audit":
		return auditCmd(ctx, rest, e)
	case "keys":
		return keysCmd(ctx, rest, e)
	case "initial-token":
		return initialTokenCmd(ctx, rest, e)
	case "version":
		fmt.Fprintf(e.Stdout, "tenantless %s\n", version)
		return nil
	case "help":
		fmt.Fprint(e.Stdout, mainUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q (run \"tenantless --help\")", errUsage, cmd)
}

// flagSet makes a FlagSet whose --help prints usage and the flags, and
// whose errors come back to the caller.
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

// parse parses args, flags and positional arguments in any order, and
// returns the positional ones. It turns flag errors into usage errors and
// --help into flag.ErrHelp, and applies TENANTLESS_* environment fallbacks
// to flags not given on the command line.
func parse(fs *flag.FlagSet, args []string, e env) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
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
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, name, v, serr)
			}
		}
	})
	return pos, err
}

// subcommand parses "SUB [ARGS] [FLAGS]" of an admin command whose flags
// are already defined on fs: it prints usage for help (returning
// flag.ErrHelp, which exits 0), checks SUB against arity (the number of
// positional arguments each subcommand takes) and returns SUB and its
// positional arguments.
func subcommand(fs *flag.FlagSet, e env, args []string, arity map[string]int) (string, []string, error) {
	if len(args) == 0 {
		fs.Usage()
		return "", nil, fmt.Errorf("%w: %s needs a subcommand", errUsage, fs.Name())
	}
	sub := args[0]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fs.SetOutput(e.Stdout)
		fs.Usage()
		return "", nil, flag.ErrHelp
	}
	pos, err := parse(fs, args[1:], e)
	if err != nil {
		return "", nil, err
	}
	n, ok := arity[sub]
	if !ok {
		return "", nil, fmt.Errorf("%w: unknown %s subcommand %q", errUsage, fs.Name(), sub)
	}
	if len(pos) != n {
		return "", nil, fmt.Errorf("%w: %s %s takes %d argument(s), got %d", errUsage, fs.Name(), sub, n, len(pos))
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
