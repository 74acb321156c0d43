package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

const (
	// maxTreeNodes and maxTreeDepth bound the payload tree; a bigger payload is shown as
	// indented text only (a page of 50,000 nested lists helps nobody).
	maxTreeNodes = 5000
	maxTreeDepth = 64
)

// jsonNode is one value of a JSON document, with its key in its parent, in document order
// (a map would lose the order the submitter wrote).
type jsonNode struct {
	// Key is the member name or the array index.
	Key string
	// Kind is object, array, string, number, bool or null.
	Kind     string
	Value    string
	Children []*jsonNode
}

// Summary is what a folded object or array shows.
func (n *jsonNode) Summary() string {
	switch n.Kind {
	case "object":
		return fmt.Sprintf("{…} %d keys", len(n.Children))
	case "array":
		return fmt.Sprintf("[…] %d items", len(n.Children))
	}
	return n.Value
}

var errTooBig = errors.New("document too large to show as a tree")

// parseJSONTree reads doc into a tree, or fails for invalid JSON or one past the bounds.
func parseJSONTree(doc []byte) (*jsonNode, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	nodes := 0
	root, err := readNode(d, "", 0, &nodes)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON document")
	}
	return root, nil
}

func readNode(d *json.Decoder, key string, depth int, nodes *int) (*jsonNode, error) {
	if *nodes++; *nodes > maxTreeNodes || depth > maxTreeDepth {
		return nil, errTooBig
	}
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	n := &jsonNode{Key: key}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n.Kind = "object"
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				child, err := readNode(d, k, depth+1, nodes)
				if err != nil {
					return nil, err
				}
				n.Children = append(n.Children, child)
			}
		case '[':
			n.Kind = "array"
			for i := 0; d.More(); i++ {
				child, err := readNode(d, strconv.Itoa(i), depth+1, nodes)
				if err != nil {
					return nil, err
				}
				n.Children = append(n.Children, child)
			}
		default:
			return nil, fmt.Errorf("unexpected %v", v)
		}
		if _, err := d.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	case string:
		n.Kind, n.Value = "string", strconv.Quote(v)
	case json.Number:
		n.Kind, n.Value = "number", v.String()
	case bool:
		n.Kind, n.Value = "bool", strconv.FormatBool(v)
	case nil:
		n.Kind, n.Value = "null", "null"
	}
	return n, nil
}

// indentJSON is doc indented for reading, or doc itself when it is not JSON.
func indentJSON(doc []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return string(doc)
	}
	return b.String()
}
