package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Field is one leaf setting of a Config, bound to the Config it was listed from.
type Field struct {
	// Path is the dotted YAML path, e.g. "db.password".
	Path string
	// Env is the environment variable that overrides it, e.g. "JQ_DB_PASSWORD".
	Env string
	// Help is one line for --help and the docs.
	Help string
	// Secret marks a value that must not be kept in the config file.
	Secret bool

	secretIfURLHasPassword bool
	value                  reflect.Value
}

var durationType = reflect.TypeFor[Duration]()

// Fields lists every leaf setting of c in declaration order. Setting a Field changes c.
func (c *Config) Fields() []Field {
	var out []Field
	walk(reflect.ValueOf(c).Elem(), "", &out)
	return out
}

// Field returns the setting at a dotted path, or false.
func (c *Config) Field(path string) (Field, bool) {
	for _, f := range c.Fields() {
		if f.Path == path {
			return f, true
		}
	}
	return Field{}, false
}

func walk(v reflect.Value, prefix string, out *[]Field) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		key := yamlKey(sf)
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		fv := v.Field(i)
		if sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct {
			continue // a list of records (schedules): the file only, documented apart
		}
		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
			walk(fv, path, out)
			continue
		}
		*out = append(*out, Field{
			Path:                   path,
			Env:                    sf.Tag.Get("env"),
			Help:                   sf.Tag.Get("help"),
			Secret:                 sf.Tag.Get("secret") != "",
			secretIfURLHasPassword: sf.Tag.Get("secret") == "url",
			value:                  fv,
		})
	}
}

func yamlKey(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	return name
}

// Set parses s according to the field's type and stores it. Lists are comma-separated.
func (f Field) Set(s string) error {
	v := f.value
	switch {
	case v.Type() == durationType:
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q: want true or false", s)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		// Reached only if a field of a new type is added without teaching Set about it; the
		// tests set every field, so this cannot ship.
		panic(fmt.Sprintf("config: field %s has unsupported type %s", f.Path, v.Type()))
	}
	return nil
}

// String formats the current value the way Set reads it.
func (f Field) String() string {
	v := f.value
	switch {
	case v.Type() == durationType:
		return Duration(v.Int()).String()
	case v.Kind() == reflect.Slice:
		return strings.Join(v.Interface().([]string), ",")
	default:
		return fmt.Sprint(v.Interface())
	}
}

// IsZero reports whether the field holds its type's zero value.
func (f Field) IsZero() bool { return f.value.IsZero() }

// Kind names the field's type for docs: string, int, bool, duration or list.
func (f Field) Kind() string {
	switch {
	case f.value.Type() == durationType:
		return "duration"
	case f.value.Kind() == reflect.Slice:
		return "list"
	default:
		return f.value.Kind().String()
	}
}
