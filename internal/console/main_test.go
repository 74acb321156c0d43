package console_test

import (
	"testing"

	"github.com/jqhq/jq/internal/testleak"
)

func TestMain(m *testing.M) { testleak.VerifyTestMain(m) }
