package queue_test

import (
	"os"
	"testing"

	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testleak"
)

// exampleDB is the database the examples run against (made in TestMain: examples have no
// *testing.T).
var exampleDB string

func TestMain(m *testing.M) {
	tb := &testdb.MainTB{}
	exampleDB = testdb.New(tb)
	os.Exit(testleak.Run(m, tb.Close))
}
