package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/proxy"
)

// configSources are what `run` resolved its configuration from. A reload
// resolves again from the same sources, so the file, the environment and
// the command line keep their precedence (a flag given at start still
// beats the file after a reload).
func configSources(e env, flags *config.Flags) config.Sources {
	return config.Sources{
		Flags:   flags,
		Environ: e.environ,
		Home:    lookupEnv(e.environ, "HOME"),
	}
}

// reloader is the proxy's ReloadFunc: config.Resolve again, exactly as at
// start. Warnings go to the log (stderr belongs to the start-up).
func reloader(src config.Sources, log *zap.Logger) proxy.ReloadFunc {
	return func() (config.Config, error) {
		cfg, warnings, err := config.Resolve(src)
		for _, w := range warnings {
			log.Warn("configuration", zap.String("warning", w))
		}
		return cfg, err
	}
}

// reloadOnSIGHUP reloads the proxy on every SIGHUP until ctx ends or the
// returned stop function is called (which waits for a reload in progress).
// The proxy logs the outcome; a failed reload keeps the running
// configuration.
func reloadOnSIGHUP(ctx context.Context, srv *proxy.Server, log *zap.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration and rules")
				if rep, err := srv.Reload(); err == nil {
					for _, r := range rep.RestartRequired {
						log.Warn("changed setting needs a restart", zap.String("key", r.Key),
							zap.String("running", r.Running), zap.String("configured", r.Configured))
					}
					if rep.ActiveProfileNote != "" {
						log.Info("active profile", zap.String("profile", rep.ActiveProfile), zap.String("note", rep.ActiveProfileNote))
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
}
