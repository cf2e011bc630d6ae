package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/proxy"
)

const runUsage = `usage: consentproxy run [flags]

Starts the proxy (default 127.0.0.1:8080) and its admin API (default
127.0.0.1:8081). Every flag can also be set in the config file (--config)
and as CONSENTPROXY_<NAME>; a flag beats the environment, which beats the
file, which beats the default. SIGHUP (or POST /api/reload) re-reads the
configuration and the rules files; on error the running ones stay.

flags:
`

// runProxy is `consentproxy run`: resolve the configuration, load or create
// the CA, and serve until SIGINT/SIGTERM, then shut down gracefully.
func runProxy(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "run", runUsage)
	flags := config.RegisterFlags(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("run: unexpected argument %q (flags only; see consentproxy run -h)", fs.Arg(0))
	}
	cfg, err := resolveConfig(e, flags)
	if err != nil {
		return err
	}
	sources := configSources(e, flags)
	log, err := newLogger(cfg, e.stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer log.Sync() //nolint:errcheck // stderr may not support sync; nothing to do about it

	ca, created, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	caFields := []zap.Field{zap.String("cert", cfg.CACert), zap.String("sha256", certs.Fingerprint(ca.Certificate()))}
	if created {
		log.Info("created a new CA; make clients trust it (consentproxy ca trust-help)", caFields...)
	} else {
		log.Info("loaded CA", caFields...)
	}

	srv, err := proxy.New(cfg, ca, log, proxy.WithReload(reloader(sources, log)))
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("run: %w", err)}
	}
	serveTrustPage(srv, cfg, ca)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer reloadOnSIGHUP(ctx, srv, log)()
	if cfg.Watch {
		stopWatch, err := watchFiles(srv, log, cfg.File, cfg.Rules)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("run: %w", err)}
		}
		defer stopWatch()
	}
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// newLogger builds the process logger: JSON or console to stderr at the
// configured level, zap's default sampling (so a flood of blocks cannot
// drown the log), no caller annotation (it costs ~2 µs per entry on the
// hot path and says nothing a message does not).
func newLogger(cfg config.Config, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("log_level %q: %w", cfg.LogLevel, err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch cfg.LogFormat {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	default:
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zap.NewAtomicLevelAt(level))
	// zap's production sampling: per message, the first 100 entries each
	// second are logged, then every 100th.
	core = zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
	return zap.New(core), nil
}
