package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// parseScalar parses the text of one value of kind k (for a list kind, one
// element). Every source (file, environment, flag) goes through it, so a
// value means the same wherever it is written. The error completes the
// sentence `"TEXT" is ...`, e.g. "not a duration (e.g. 90s, 2m)".
func parseScalar(k Kind, text string) (any, error) {
	switch k {
	case KindString, KindStringList:
		return text, nil
	case KindBool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, errors.New("not a boolean (use true or false)")
		}
		return b, nil
	case KindInt, KindIntList:
		n, err := strconv.Atoi(text)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, errors.New("out of range for an integer")
			}
			return nil, errors.New("not an integer")
		}
		return n, nil
	case KindDuration:
		d, err := time.ParseDuration(text)
		if err != nil {
			if _, nerr := strconv.ParseFloat(text, 64); nerr == nil {
				// "120" fails only for lack of a unit; saying so is the fix.
				return nil, errors.New("not a duration: add a unit (e.g. " + text + "s)")
			}
			return nil, errors.New("not a duration (e.g. 90s, 2m)")
		}
		return d, nil
	}
	return nil, errors.New("not a " + k.String())
}

// formatValue is the text of v as a flag default or a message shows it.
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case time.Duration:
		return v.String()
	case []string:
		return strings.Join(v, ",")
	case []int:
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = strconv.Itoa(n)
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// isZero reports whether v is its kind's zero value (no flag default shown).
func isZero(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case bool:
		return !v
	case int:
		return v == 0
	case time.Duration:
		return v == 0
	case []string:
		return len(v) == 0
	case []int:
		return len(v) == 0
	}
	return true
}
