package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EnvPrefix starts the name of every environment override.
const EnvPrefix = "GATEWAY_"

// applyEnv sets every scalar key outside lists from the environment: the
// key listen.https is read from GATEWAY_LISTEN_HTTPS. Keys inside lists (CAs,
// profiles, pool members) are not overridable; they have no stable path.
func applyEnv(c *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	var problems Problems
	walkScalars(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		name := EnvName(path)
		s, ok := env[name]
		if !ok {
			return
		}
		if err := setScalar(v, s); err != nil {
			problems = append(problems, fmt.Sprintf("%s (from %s): %v", path, name, err))
		}
	})
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// EnvName is the environment variable that overrides the key at path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// Keys lists the paths of every key that an environment variable can set.
func Keys() []string {
	var keys []string
	walkScalars(reflect.ValueOf(&Config{}).Elem(), "", func(path string, _ reflect.Value) {
		keys = append(keys, path)
	})
	return keys
}

var durationType = reflect.TypeOf(Duration(0))

func walkScalars(v reflect.Value, prefix string, fn func(path string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			// Its keys are the parent's (crl.validity, from CRLSchedule).
			walkScalars(v.Field(i), prefix, fn)
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		fv := v.Field(i)
		switch {
		case f.Type == durationType:
			fn(path, fv)
		case fv.Kind() == reflect.Struct:
			walkScalars(fv, path, fn)
		case fv.Kind() == reflect.String, fv.Kind() == reflect.Int, fv.Kind() == reflect.Bool:
			fn(path, fv)
		}
	}
}

func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		v.SetBool(b)
	}
	return nil
}
