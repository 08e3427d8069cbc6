// Package jsonsafe encodes results as JSON with NaN and ±Inf (undefined metrics) written as null,
// which encoding/json refuses.
package jsonsafe

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
)

// MarshalIndent is Marshal indented by two spaces, with a final newline (a file's content).
func MarshalIndent(v any) ([]byte, error) {
	raw, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// Marshal encodes v as JSON like encoding/json, except that NaN and ±Inf floats, which JSON
// cannot represent, become null (a metric that is undefined for a model stays visible as null).
func Marshal(v any) ([]byte, error) {
	return json.Marshal(toJSONValue(reflect.ValueOf(v)))
}

func toJSONValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type().Implements(reflect.TypeOf((*json.Marshaler)(nil)).Elem()) && v.Kind() != reflect.Pointer {
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toJSONValue(v.Elem())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		if v.Kind() == reflect.Float32 {
			return float32(f)
		}
		return f
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toJSONValue(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out[toKey(iter.Key())] = toJSONValue(iter.Value())
		}
		return out
	case reflect.Struct:
		if _, ok := v.Interface().(json.Marshaler); ok {
			return v.Interface()
		}
		out := make(map[string]any)
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, omitEmpty := f.Name, false
			if tag, ok := f.Tag.Lookup("json"); ok {
				parts := strings.Split(tag, ",")
				if parts[0] == "-" {
					continue
				}
				if parts[0] != "" {
					name = parts[0]
				}
				for _, p := range parts[1:] {
					omitEmpty = omitEmpty || p == "omitempty"
				}
			}
			fv := v.Field(i)
			if omitEmpty && fv.IsZero() {
				continue
			}
			out[name] = toJSONValue(fv)
		}
		return out
	}
	return v.Interface()
}

func toKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return k.String()
	}
	b, _ := json.Marshal(k.Interface())
	return strings.Trim(string(b), `"`)
}
