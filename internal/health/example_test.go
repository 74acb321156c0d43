package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/jqhq/jq/internal/health"
)

func ExampleHealth_Handler() {
	h := health.New(nil)
	h.Add("postgresql", func(context.Context) error { return nil })
	h.Add("redis", func(context.Context) error { return errors.New("connection refused") })

	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 503 {"status":"unavailable","checks":{"postgresql":"ok","redis":"connection refused"}}
}
