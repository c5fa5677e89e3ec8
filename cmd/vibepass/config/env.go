package config

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the environment variable of every config.toml key:
// VIBEPASS_<SECTION>_<KEY> in capitals, e.g. VIBEPASS_UPSTREAM_KIND.
const EnvPrefix = "VIBEPASS_"

// PortEnv names the variable Cloud Run, Fly.io and Heroku give the port to listen on.
const PortEnv = "PORT"

// Variable is one config.toml key and the environment variable that sets it.
type Variable struct {
	Name string // e.g. VIBEPASS_RATE_LIMIT_USER_PER_MINUTE
	Key  string // e.g. rate_limit.user_per_minute
	path []int  // the field's index path in Config
}

// Variables lists every config.toml key with its variable, sorted by name. They are
// read off Config's toml tags, so a key added to the file is settable at once.
func Variables() []Variable {
	var vars []Variable
	var walk func(t reflect.Type, section string, path []int)
	walk = func(t reflect.Type, section string, path []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			p := append(append([]int(nil), path...), i)
			switch {
			case tag == "-":
			case tag == "" && f.Anonymous: // proxy.Config: its sections sit at the top level
				walk(f.Type, section, p)
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
				walk(f.Type, tag, p)
			default:
				key := tag
				if section != "" {
					key = section + "." + tag
				}
				vars = append(vars, Variable{Name: variableName(key), Key: key, path: p})
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	return vars
}

// sections returns the variable prefixes of the config's sections, e.g.
// VIBEPASS_RATE_LIMIT_: a variable under one that names no key is a typo.
func sections(vars []Variable) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range vars {
		section, _, ok := strings.Cut(v.Key, ".")
		if p := EnvPrefix + strings.ToUpper(section) + "_"; ok && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// applyEnv sets every key whose VIBEPASS_* variable is set (and not empty) over the
// file's values, and records in origin which variable set which key. A variable
// under a section's prefix that names no key is refused, as an unknown key in the
// file is; other VIBEPASS_* names (VIBEPASS_DB_URL for env(NAME), the model client's
// VIBEPASS_URL) are left alone.
func (c *Config) applyEnv(origin map[string]string) error {
	vars := Variables()
	known := map[string]bool{}
	v := reflect.ValueOf(c).Elem()
	for _, x := range vars {
		known[x.Name] = true
		raw, ok := os.LookupEnv(x.Name)
		if !ok || raw == "" {
			continue
		}
		if err := setField(v.FieldByIndex(x.path), raw); err != nil {
			return fmt.Errorf("%s: %s: %w", x.Name, x.Key, err)
		}
		origin[x.Key] = x.Name
	}
	if err := c.applyRenamedEnv(origin, known); err != nil {
		return err
	}
	prefixes := sections(vars)
	var unknown []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) && !known[name] {
				unknown = append(unknown, name)
				break
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown) // the same error on every run
		return fmt.Errorf("%s: names no config.toml key (see config.toml for the keys; each is VIBEPASS_<SECTION>_<KEY>)", unknown[0])
	}
	return nil
}

// applyRenamedEnv reads the variable of every renamed key as its new key's, with a
// warning, unless the new key's variable is set too; it marks the old names known.
func (c *Config) applyRenamedEnv(origin map[string]string, known map[string]bool) error {
	for oldKey, newKey := range renamedKeys {
		oldName, newName := variableName(oldKey), variableName(newKey)
		known[oldName] = true
		raw, ok := os.LookupEnv(oldName)
		if !ok || raw == "" {
			continue
		}
		if origin[newKey] == newName {
			return fmt.Errorf("%s: renamed to %s, which is set too; keep only %s", oldName, newName, newName)
		}
		if err := c.setKey(newKey, raw); err != nil {
			return fmt.Errorf("%s: %s: %w", oldName, newKey, err)
		}
		origin[newKey] = oldName
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s is now %s: rename it", oldName, newName))
	}
	return nil
}

// variableName is the environment variable of config.toml key.
func variableName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setField parses raw into a config field of a type config.toml uses.
func setField(f reflect.Value, raw string) error {
	if f.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("must be a duration like \"5s\"")
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("must be a whole number")
		}
		f.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		f.SetBool(b)
	case reflect.Slice: // []string
		f.Set(reflect.ValueOf(splitList(raw)))
	default:
		return fmt.Errorf("has no environment form (a %s key): set it in the file", f.Type())
	}
	return nil
}

// applyPort listens on 0.0.0.0:$PORT when PORT is set and nothing else set listen,
// as platforms that route to a port they choose expect. PORT=0, as listen's port 0,
// binds a free port, which the log's "listening" record names.
func (c *Config) applyPort(origin map[string]string) error {
	port := os.Getenv(PortEnv)
	if port == "" {
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s: must be a port number between 0 and 65535", PortEnv)
	}
	c.Listen = net.JoinHostPort("0.0.0.0", port)
	origin["listen"] = PortEnv
	return nil
}
