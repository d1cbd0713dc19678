package main

import (
	"context"
	"strings"
)

// command is one entry of the command table: a top-level command and, for
// the administration commands, its subcommands. dispatch, subcommand and
// the tests that walk every command (commands_test.go) all read the table,
// so a command added here is checked like the others.
type command struct {
	name string
	// subs are the subcommands; nil when the command takes none.
	subs []subcommandSpec
	// readOnly, for a command without subcommands, means it only reads the
	// database and so never creates one.
	readOnly bool
	// noDB means the command takes no --db.
	noDB bool
	run  func(ctx context.Context, args []string, e env) error
}

// subcommandSpec is one subcommand of an administration command.
type subcommandSpec struct {
	name string
	// args name its positional arguments, in order.
	args []string
	// readOnly means it only reads the database and never creates one.
	readOnly bool
}

// commands is the command table.
func commands() []command {
	return []command{
		{name: "serve", run: serve},
		{name: "user", run: userCmd, subs: []subcommandSpec{
			{name: "add", args: []string{"NAME"}},
			{name: "list", readOnly: true},
			{name: "passwd", args: []string{"NAME"}},
			{name: "delete", args: []string{"NAME"}},
		}},
		{name: "client", run: clientCmd, subs: []subcommandSpec{
			{name: "add"},
			{name: "list", readOnly: true},
			{name: "show", args: []string{"CLIENT_ID"}, readOnly: true},
			{name: "delete", args: []string{"CLIENT_ID"}},
		}},
		{name: "initial-token", run: initialTokenCmd, subs: []subcommandSpec{
			{name: "add"},
			{name: "list", readOnly: true},
			{name: "delete", args: []string{"ID"}},
		}},
		{name: "grant", run: grantCmd, subs: []subcommandSpec{
			{name: "list", readOnly: true},
			{name: "revoke", args: []string{"GRANT_ID"}},
		}},
		{name: "audit", run: auditCmd, readOnly: true},
		{name: "keys", run: keysCmd, subs: []subcommandSpec{
			{name: "list", readOnly: true},
			{name: "rotate"},
		}},
		{name: "resource", run: resourceCmd, subs: []subcommandSpec{
			{name: "add", args: []string{"URL"}},
			{name: "list", readOnly: true},
			{name: "show", args: []string{"URL"}, readOnly: true},
			{name: "delete", args: []string{"URL"}},
		}},
		{name: "token", run: tokenCmd},
		{name: "trace", run: traceCmd, readOnly: true},
		{name: "fault", run: faultCmd},
		{name: "version", run: versionCmd, noDB: true},
	}
}

// lookupCommand finds a command of the table by name.
func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// sub finds a subcommand by name.
func (c command) sub(name string) (subcommandSpec, bool) {
	for _, s := range c.subs {
		if s.name == name {
			return s, true
		}
	}
	return subcommandSpec{}, false
}

// subNames lists the subcommands as "add, list or delete".
func (c command) subNames() string {
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		names[i] = s.name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
