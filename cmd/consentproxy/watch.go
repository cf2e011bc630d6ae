package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/proxy"
)

// watchDebounce is how long the watcher waits after the last change
// before reloading: editors write a file in several steps (truncate,
// write, rename), and one reload should see the finished file.
const watchDebounce = 300 * time.Millisecond

// watchFiles reloads srv whenever the config file or one of the rules
// files changes (`watch: true`), until the returned stop is called. It
// watches the files' directories rather than the files, because editors
// and deployment tools replace a file by renaming a new one over it, which
// a watch on the old file would miss. After each reload it follows the
// rules files the new configuration names.
func watchFiles(srv *proxy.Server, log *zap.Logger, configFile string, rulesFiles []string) (stop func(), err error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	fw := &fileWatcher{w: w, srv: srv, log: log, dirs: map[string]bool{}}
	if err := fw.follow(configFile, rulesFiles); err != nil {
		_ = w.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fw.loop(ctx)
	}()
	return func() {
		cancel()
		_ = w.Close()
		wg.Wait()
	}, nil
}

type fileWatcher struct {
	w     *fsnotify.Watcher
	srv   *proxy.Server
	log   *zap.Logger
	dirs  map[string]bool
	files map[string]bool // absolute, cleaned
}

// follow watches the directories of the given files (adding new ones;
// directories no longer needed stay watched, harmlessly).
func (fw *fileWatcher) follow(configFile string, rulesFiles []string) error {
	fw.files = map[string]bool{}
	for _, f := range append([]string{configFile}, rulesFiles...) {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("watch %s: %w", f, err)
		}
		fw.files[abs] = true
		dir := filepath.Dir(abs)
		if fw.dirs[dir] {
			continue
		}
		if err := fw.w.Add(dir); err != nil {
			return fmt.Errorf("watch %s (for %s): %w", dir, f, err)
		}
		fw.dirs[dir] = true
	}
	return nil
}

func (fw *fileWatcher) loop(ctx context.Context) {
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			if !fw.files[filepath.Clean(ev.Name)] || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.AfterFunc(watchDebounce, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				timer.Reset(watchDebounce)
			}
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			fw.log.Warn("watching the configuration files", zap.Error(err))
		case <-fire:
			fw.log.Info("a watched file changed: reloading the configuration and rules")
			rep, err := fw.srv.Reload()
			if err != nil {
				continue // the proxy logged why; the running configuration stays
			}
			if err := fw.follow(rep.ConfigFile, rep.RulesFiles); err != nil {
				fw.log.Warn("watching the configuration files", zap.Error(err))
			}
		}
	}
}
