package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/config"
)

const migrateUsage = "jq-server migrate up|down|status [flags]"

// runMigrate is `jq-server migrate up|down|status`.
func runMigrate(ctx context.Context, setup *cli.Setup, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return &cli.UsageError{Err: fmt.Errorf("usage: %s", migrateUsage)}
	}
	m, err := db.NewMigrator(setup.Config.DB.ConnString(), stdout)
	if err != nil {
		return err
	}
	switch args[0] {
	case "up":
		return m.Up(ctx)
	case "down":
		return m.Down(ctx)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		pending := 0
		for _, s := range st {
			mark := "[X]"
			if !s.Applied {
				mark = "[ ]"
				pending++
			}
			fmt.Fprintf(stdout, "%s %s\n", mark, s.Name)
		}
		fmt.Fprintf(stdout, "\napplied: %d, pending: %d (%s)\n", len(st)-pending, pending, config.Redacted(setup.Config.DB.ConnString()))
		return nil
	default:
		return &cli.UsageError{Err: fmt.Errorf("unknown migrate command %q; usage: %s", args[0], migrateUsage)}
	}
}
