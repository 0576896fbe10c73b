package policy

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// document decodes data into the root mapping node of a single document.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	if len(data) > maxPolicyBytes {
		d.problemf(nil, "", "policy file larger than %d bytes", maxPolicyBytes)
		return nil
	}
	defer func() {
		if recover() != nil { // defence in depth: yaml.v3 on hostile input
			d.problemf(nil, "", "malformed YAML")
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.problems = append(d.problems, Problem{Line: 1, Message: "empty policy"})
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.problemf(&extra, "", "only one YAML document is allowed")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(err)
		return nil
	}
	if len(doc.Content) == 0 {
		d.problems = append(d.problems, Problem{Line: 1, Message: "empty policy"})
		return nil
	}
	d.checkNoAliases(&doc)
	if len(d.problems) > 0 {
		return nil
	}
	return doc.Content[0]
}

// yamlError records a YAML syntax error with its line when known.
func (d *decoder) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Message: "YAML syntax: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, ok := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); ok && err == nil {
			if zeroBasedYAMLError(tail) {
				line++
			}
			p.Line, p.Message = line, "YAML syntax: "+tail
		}
	}
	d.problems = append(d.problems, p)
}

// zeroBasedYAMLError reports whether yaml.v3 gives the line of this parser
// (not scanner) error counted from 0. The line is where the enclosing
// block, list or mapping starts, or where the problem was found.
func zeroBasedYAMLError(msg string) bool {
	switch msg {
	case "did not find expected key", "did not find expected '-' indicator",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected node content", "did not find expected <document start>":
		return true
	}
	return false
}
