package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/health"
)

func TestComponents(t *testing.T) {
	t.Parallel()

	t.Run("WhatIsConfigured", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default(config.ServiceServer)
		cfg.DB.URL = "postgres://jq:s3cr3t@db.internal:5432/jq"
		cfg.Kafka.Brokers = []string{"k1:9092", "k2:9092"}

		var got []string
		for _, c := range components(cfg, connections{}) {
			got = append(got, fmt.Sprintf("%s configured=%t optional=%t target=%s", c.Name, c.Configured, c.Optional, c.Target))
		}
		require.Equal(t, []string{
			"postgresql configured=true optional=false target=postgres://jq:xxxxx@db.internal:5432/jq",
			"redis configured=false optional=false target=",
			"kafka configured=true optional=true target=k1:9092,k2:9092",
		}, got)
	})

	t.Run("NoErrorQuotesAPassword", func(t *testing.T) {
		t.Parallel()
		const dbPassword, kafkaPassword = "pa$$w0rd", "k4fk4-s3cr3t"
		cfg := config.Default(config.ServiceServer)
		cfg.DB.URL = "postgres://jq:pa%24%24w0rd@127.0.0.1:1/jq"
		cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
		cfg.Kafka.SASLPassword = kafkaPassword
		errSASL := errors.New("sasl refused")
		comps := components(cfg, connections{
			// Errors as a careless driver might word them.
			storeErr: errors.New("cannot connect to postgres://jq:pa%24%24w0rd@127.0.0.1:1/jq with password pa$$w0rd"),
			kafkaErr: fmt.Errorf("login with %q: %w", kafkaPassword, errSASL),
		})

		h := health.New(nil)
		var reported []string
		for _, c := range comps {
			h.AddComponent(c)
			if c.Configured {
				r := c.Probe(t.Context(), time.Second)
				require.Error(t, r.Err, c.Name)
				reported = append(reported, r.Err.Error())
			}
		}
		ready, results := h.Ready(t.Context())
		require.False(t, ready)
		for _, text := range results {
			reported = append(reported, text)
		}

		all := strings.Join(reported, "\n")
		for _, secret := range []string{dbPassword, "pa%24%24w0rd", kafkaPassword} {
			require.NotContains(t, all, secret)
		}
		require.Contains(t, all, "cannot connect to postgres://jq:xxxxx@127.0.0.1:1/jq", "the rest of the message stays")
		_, err := comps[2].Check(t.Context()) // kafka
		require.ErrorIs(t, err, errSASL, "the error chain survives the redaction")
	})
}
