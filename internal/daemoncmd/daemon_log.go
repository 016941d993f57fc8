package daemoncmd

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// The daemon's log formats (--log-format, env LIFELINE_LOG_FORMAT):
//
//   - console: one line per event for people, "time LVL message key=value";
//     coloured only when the output is a terminal and NO_COLOR is unset, so
//     a log redirected to a file holds no ANSI escapes;
//   - logfmt: "time=... level=info msg=\"...\" key=value", never coloured,
//     values quoted where they hold spaces or quotes;
//   - json: one JSON object per line (zerolog's fields: time, level,
//     message, and vm, seq, event, from, to, pid, boot...).
var logFormats = []string{"console", "logfmt", "json"}

// DefaultLogFormat is $LIFELINE_LOG_FORMAT, else console: the default of
// --log-format, of lifelined and of the CLI (which passes it on).
func DefaultLogFormat() string {
	if f := os.Getenv("LIFELINE_LOG_FORMAT"); f != "" {
		return f
	}
	return "console"
}

// newLogger builds the daemon's logger writing to w at level in format;
// colour is whether w is a terminal (console only; NO_COLOR turns it off).
func newLogger(w io.Writer, level, format string, colour bool) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), usageError{fmt.Errorf("--log-level %q (env LIFELINE_LOG_LEVEL): want debug, info, warn or error", level)}
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !colour || os.Getenv("NO_COLOR") != ""}
	case "logfmt":
		w = zerolog.ConsoleWriter{
			Out: w, NoColor: true, TimeFormat: time.RFC3339,
			PartsOrder:      []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, zerolog.MessageFieldName},
			FormatTimestamp: func(i any) string { return "time=" + fmt.Sprint(i) },
			FormatLevel:     func(i any) string { return "level=" + fmt.Sprint(i) },
			FormatMessage:   func(i any) string { return "msg=" + logfmtValue(fmt.Sprint(i)) },
			// Field values arrive quoted where they need it (zerolog's
			// console writer quotes strings with spaces or quotes).
			FormatFieldName:     func(i any) string { return fmt.Sprint(i) + "=" },
			FormatFieldValue:    func(i any) string { return fmt.Sprint(i) },
			FormatErrFieldName:  func(i any) string { return fmt.Sprint(i) + "=" },
			FormatErrFieldValue: func(i any) string { return fmt.Sprint(i) },
		}
	default:
		return zerolog.Nop(), usageError{fmt.Errorf("--log-format %q (env LIFELINE_LOG_FORMAT): want %s", format, strings.Join(logFormats, ", "))}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// logfmtValue quotes a message when logfmt needs it: empty, or holding a
// space, a quote, a backslash, an equals sign or a control character.
func logfmtValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \"=\\") || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return strconv.Quote(v)
	}
	return v
}
