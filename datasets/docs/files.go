package docs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// DefaultField is the JSON field and Parquet column that holds the text unless told otherwise.
const DefaultField = "text"

// Kind is how Load reads a file, from its extension.
type Kind int

const (
	// Unknown extensions: skipped inside a directory, read as Text when named directly.
	Unknown Kind = iota
	// Text (.txt, .text, .md, .rst): the whole file is one document, ID its path.
	Text
	// JSONL (.jsonl, .ndjson): one JSON object a line, the text in a string field; ID
	// "path:line". Blank lines are skipped; a line that is not an object, lacks the field or
	// holds something other than a string there is an error naming the file, line and field.
	JSONL
	// Parquet (.parquet): one document per row, the text in a string (BYTE_ARRAY) column; ID
	// "path#row". Null values are skipped.
	Parquet
)

// KindOf returns the kind of a file name.
func KindOf(name string) Kind {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".text", ".md", ".rst":
		return Text
	case ".jsonl", ".ndjson":
		return JSONL
	case ".parquet":
		return Parquet
	}
	return Unknown
}

// Load reads documents from a file or, recursively and in path order, a directory (files of
// Unknown kind and names starting with '.' are skipped there). field names the JSON field or
// Parquet column with the text ("" means DefaultField). Document IDs use paths relative to a
// directory, or the file name itself. It is an error when nothing is found.
func Load(path, field string) ([]Doc, error) {
	if field == "" {
		field = DefaultField
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	if !st.IsDir() {
		k := KindOf(path)
		if k == Unknown {
			k = Text
		}
		docs, err := loadFile(path, filepath.Base(path), k, field)
		if err != nil {
			return nil, err
		}
		if len(docs) == 0 {
			return nil, fmt.Errorf("docs: %s holds no documents", path)
		}
		return docs, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && KindOf(p) != Unknown {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	sort.Strings(files)
	var out []Doc
	for _, f := range files {
		rel, _ := filepath.Rel(path, f)
		docs, err := loadFile(f, filepath.ToSlash(rel), KindOf(f), field)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("docs: no documents in %s (looked for .txt, .text, .md, .rst, .jsonl, .ndjson and .parquet files)", path)
	}
	return out, nil
}

func loadFile(path, id string, k Kind, field string) ([]Doc, error) {
	switch k {
	case JSONL:
		return loadJSONL(path, id, field)
	case Parquet:
		return loadParquet(path, id, field)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return []Doc{{ID: id, Text: string(b)}}, nil
}

func loadJSONL(path, id, field string) ([]Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var out []Doc
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var obj map[string]json.RawMessage
			if jerr := json.Unmarshal(b, &obj); jerr != nil || obj == nil {
				if jerr == nil {
					jerr = errors.New("null")
				}
				return nil, fmt.Errorf("docs: %s:%d: not a JSON object: %v", path, line, jerr)
			}
			raw, ok := obj[field]
			if !ok {
				return nil, fmt.Errorf("docs: %s:%d: no %q field (fields: %s)", path, line, field, fieldList(obj))
			}
			var text string
			if jerr := json.Unmarshal(raw, &text); jerr != nil {
				return nil, fmt.Errorf("docs: %s:%d: field %q is %s, not a string", path, line, field, jsonKind(raw))
			}
			out = append(out, Doc{ID: fmt.Sprintf("%s:%d", id, line), Text: text})
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("docs: %s: %w", path, err)
		}
	}
}

func fieldList(obj map[string]json.RawMessage) string {
	if len(obj) == 0 {
		return "none"
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, fmt.Sprintf("%q", k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func jsonKind(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) == 0:
		return "empty"
	case t[0] == '{':
		return "an object"
	case t[0] == '[':
		return "an array"
	case t[0] == 't' || t[0] == 'f':
		return "a boolean"
	case t[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}

func loadParquet(path, id, column string) ([]Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("docs: %s: not a readable Parquet file: %w", path, err)
	}
	leaf, ok := pf.Schema().Lookup(column)
	if !ok || leaf.Node == nil {
		var cols []string
		for _, c := range pf.Schema().Columns() {
			cols = append(cols, fmt.Sprintf("%q", strings.Join(c, ".")))
		}
		return nil, fmt.Errorf("docs: %s: no column %q (columns: %s)", path, column, strings.Join(cols, ", "))
	}
	if k := leaf.Node.Type().Kind(); k != parquet.ByteArray {
		return nil, fmt.Errorf("docs: %s: column %q holds %s values, not text", path, column, k)
	}
	if leaf.MaxRepetitionLevel > 0 {
		return nil, fmt.Errorf("docs: %s: column %q is a list, not one text per row", path, column)
	}
	var out []Doc
	row := 0
	vals := make([]parquet.Value, 256)
	for _, rg := range pf.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				pages.Close()
				return nil, fmt.Errorf("docs: %s: column %q: %w", path, column, err)
			}
			vr := p.Values()
			for {
				n, err := vr.ReadValues(vals)
				for _, v := range vals[:n] {
					if !v.IsNull() {
						out = append(out, Doc{ID: fmt.Sprintf("%s#%d", id, row), Text: string(v.ByteArray())})
					}
					row++
				}
				if err == io.EOF || (n == 0 && err == nil) {
					break
				}
				if err != nil {
					pages.Close()
					return nil, fmt.Errorf("docs: %s: column %q: %w", path, column, err)
				}
			}
			parquet.Release(p)
		}
		if err := pages.Close(); err != nil {
			return nil, fmt.Errorf("docs: %s: %w", path, err)
		}
	}
	return out, nil
}
