package dockerpolicy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	goImage     = "golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d"
	debianImage = "debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251"
)

// good is a Dockerfile that keeps every rule; each case below breaks one.
const good = `FROM ` + goImage + ` AS build
WORKDIR /src
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/app ./cmd/app

FROM scratch
LABEL org.opencontainers.image.source="https://example.com/src" \
      org.opencontainers.image.revision="abc" \
      org.opencontainers.image.version="v1" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --from=build /out/app /usr/local/bin/app
USER 1001:1001
HEALTHCHECK CMD ["/usr/local/bin/app", "health"]
ENTRYPOINT ["/usr/local/bin/app"]
`

var rules = Rules{UID: 1001, LDFlags: NormaliseFlags("-s -w -X main.Version=$(VERSION)"), RequiredLabels: OCILabels}

func check(t *testing.T, dockerfile string) []string {
	t.Helper()
	problems, err := Check([]byte(dockerfile), rules)
	require.NoError(t, err)
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.String()
	}
	return out
}

func TestCheck_Good(t *testing.T) {
	t.Parallel()
	require.Empty(t, check(t, good))
}

func TestCheck_RejectsEachBrokenRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		old     string // replaced in good ...
		new     string // ... by this
		wantMsg string // substring of one reported problem
	}{
		{"SingleStage", "\nFROM scratch\n", "\n", "got 1 stage(s), want a multi-stage build"},
		{"NoGoBuildStage", `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/app ./cmd/app`, "touch /out/app", "no stage runs `go build`"},
		{"BaseWithoutDigest", "FROM " + goImage, "FROM golang:1.26-bookworm", "unpinned base"},
		{"BaseWithoutTag", "FROM " + goImage, "FROM golang@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d", "unpinned base"},
		{"BaseLatest", "FROM " + goImage, "FROM golang:latest", "unpinned base"},
		{"BaseShortDigest", "FROM " + goImage, "FROM golang:1.26@sha256:a688600c", "unpinned base"},
		{"BaseFromVariable", "FROM " + goImage + " AS build", "ARG GO=" + goImage + "\nFROM ${GO} AS build", "got a variable"},
		{"RuntimeUnpinned", "FROM scratch", "FROM debian:bookworm-slim", "unpinned base"},
		{"NoCGODisabled", "CGO_ENABLED=0 go build", "go build", "CGO_ENABLED=0"},
		{"NoTrimpath", "go build -trimpath", "go build", "-trimpath"},
		{"NoModCache", "--mount=type=cache,target=/go/pkg/mod \\\n", "", "target=/go/pkg/mod"},
		{"NoBuildCache", "--mount=type=cache,target=/root/.cache/go-build \\\n", "", "target=/root/.cache/go-build"},
		{"UndeclaredArg", "ARG VERSION=dev\n", "", "no ARG or ENV VERSION"},
		{"NoLDFlags", `-ldflags "-s -w -X main.Version=${VERSION}" `, "", "got no -ldflags"},
		{"OtherLDFlags", `-X main.Version=${VERSION}`, `-X main.Version=${VERSION} -X main.Extra=1`, "go build -ldflags: got"},
		{"RemoteAdd", "COPY --from=build /out/app /usr/local/bin/app", "COPY --from=build /out/app /usr/local/bin/app\nADD https://example.com/tool.tgz /opt/", "remote source"},
		{"GitAdd", "COPY --from=build /out/app /usr/local/bin/app", "COPY --from=build /out/app /usr/local/bin/app\nADD git@github.com:org/repo.git /opt/", "remote source"},
		{"NoUser", "USER 1001:1001\n", "", "no USER"},
		{"NamedUser", "USER 1001:1001", "USER nonroot", "got a name"},
		{"Root", "USER 1001:1001", "USER 0", "got root"},
		{"OtherUID", "USER 1001:1001", "USER 65532:65532", "got uid 65532, want 1001"},
		{"NoEntrypoint", `ENTRYPOINT ["/usr/local/bin/app"]`, "", "no ENTRYPOINT"},
		{"ShellEntrypoint", `ENTRYPOINT ["/usr/local/bin/app"]`, "ENTRYPOINT /usr/local/bin/app", "shell form"},
		{"RelativeEntrypoint", `ENTRYPOINT ["/usr/local/bin/app"]`, `ENTRYPOINT ["app"]`, "absolute path"},
		{"MissingLabel", `      org.opencontainers.image.licenses="NOASSERTION"`, `      org.opencontainers.image.authors="x"`, "org.opencontainers.image.licenses"},
		{"EmptyLabel", `org.opencontainers.image.revision="abc"`, `org.opencontainers.image.revision=""`, "org.opencontainers.image.revision: got none"},
		{"FinalIsGoImage", "FROM scratch", "FROM " + goImage, "got the Go toolchain"},
		{"FinalFromBuilder", "FROM scratch", "FROM build", "got the Go toolchain"},
		{"RunOnScratch", "USER 1001:1001", "RUN chmod +x /usr/local/bin/app\nUSER 1001:1001", "RUN in a scratch stage"},
		{"ShellHealthcheckOnScratch", `HEALTHCHECK CMD ["/usr/local/bin/app", "health"]`, "HEALTHCHECK CMD /usr/local/bin/app health", "shell-form HEALTHCHECK"},
		{"BuildToolsInRuntime", "FROM scratch", "FROM " + debianImage + "\nRUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc", "installs gcc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Containsf(t, good, tt.old, "case %s: the fixture lost the text it replaces", tt.name)
			got := check(t, strings.Replace(good, tt.old, tt.new, 1))
			require.NotEmptyf(t, got, "case %s: got no problem, want one containing %q", tt.name, tt.wantMsg)
			require.Truef(t, containsAny(got, tt.wantMsg), "case %s: got %q, want a problem containing %q", tt.name, got, tt.wantMsg)
		})
	}
}

func TestCheck_ProblemsNameTheirLine(t *testing.T) {
	t.Parallel()
	got := check(t, strings.Replace(good, "USER 1001:1001", "USER 0", 1))
	require.Equal(t, []string{"line 14: USER 0: got root, want uid 1001"}, got)
}

func TestCheck_Unparsable(t *testing.T) {
	t.Parallel()
	_, err := Check([]byte("FROM scratch\nCOPY\n"), rules)
	require.Error(t, err)
}

func TestNormaliseFlags(t *testing.T) {
	t.Parallel()
	require.Equal(t,
		NormaliseFlags("-s -w -X a.V=$(VERSION) \\\n\t-X a.C=$(COMMIT)"),
		NormaliseFlags(`-s -w -X a.V=${VERSION} -X a.C=$COMMIT`))
	got, ok := LDFlagsOf(`go build -ldflags '-s -X a.V=${V}' ./cmd/x`)
	require.True(t, ok)
	require.Equal(t, []string{"-s", "-X", "a.V=$V"}, got)
}

func containsAny(problems []string, sub string) bool {
	for _, p := range problems {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}
