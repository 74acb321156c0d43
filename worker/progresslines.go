package worker

import (
	"bytes"
	"io"
	"math"
	"strconv"
	"strings"
)

// ProgressPrefix starts a progress line of a subprocess job: a line of its stdout
//
//	::progress PERCENT [MESSAGE]
//
// (PERCENT from 0 to 100, a "%" after it allowed) reports its progress as Progress would, and
// is left out of the job's result. A line with this prefix whose percent does not read is kept
// in the result as it is.
const ProgressPrefix = "::progress"

// maxProgressLine is the longest line looked at for a progress report; a longer line is output.
const maxProgressLine = 4 << 10

// progressLines passes a subprocess's stdout to out, line by line, taking out the progress
// lines and reporting them.
type progressLines struct {
	out    io.Writer
	report func(percent float64, message string)
	line   []byte // the current line, while it may still be a progress line
	long   bool   // the current line is longer than maxProgressLine: passed through as it comes
}

func (p *progressLines) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		b = b[len(chunk):]
		if p.long {
			_, _ = p.out.Write(chunk)
			p.long = i < 0
			continue
		}
		p.line = append(p.line, chunk...)
		if i >= 0 {
			p.endLine()
			continue
		}
		if len(p.line) > maxProgressLine || !mayBeProgress(p.line) {
			_, _ = p.out.Write(p.line)
			p.line, p.long = p.line[:0], true
		}
	}
	return n, nil // never fail the child's write
}

// mayBeProgress reports whether a partial line may still become a progress line.
func mayBeProgress(line []byte) bool {
	if len(line) < len(ProgressPrefix) {
		return strings.HasPrefix(ProgressPrefix, string(line))
	}
	return strings.HasPrefix(string(line), ProgressPrefix)
}

// endLine handles a complete line (with its newline, or the last one without).
func (p *progressLines) endLine() {
	if percent, msg, ok := parseProgress(p.line); ok {
		p.report(percent, msg)
	} else {
		_, _ = p.out.Write(p.line)
	}
	p.line = p.line[:0]
}

// Close handles the last line, when it has no newline.
func (p *progressLines) Close() error {
	if len(p.line) > 0 && !p.long {
		p.endLine()
	}
	return nil
}

// parseProgress reads "::progress 42 message\n".
func parseProgress(line []byte) (float64, string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	rest, ok := strings.CutPrefix(s, ProgressPrefix)
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return 0, "", false
	}
	num, msg, _ := strings.Cut(strings.TrimLeft(rest, " \t"), " ")
	pct, err := strconv.ParseFloat(strings.TrimSuffix(num, "%"), 64)
	if err != nil || math.IsNaN(pct) || pct < 0 || pct > 100 {
		return 0, "", false
	}
	return pct, strings.TrimSpace(msg), true
}
