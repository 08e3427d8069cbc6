package plots

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// EChartsEnv names the environment variable that points to echarts.min.js, for machines where the
// repository's node_modules is not above the working directory.
const EChartsEnv = "SINKSCOPE_ECHARTS_JS"

// echartsRel is where npm installs the ECharts browser bundle, relative to the repository root.
var echartsRel = filepath.Join("node_modules", "echarts", "dist", "echarts.min.js")

// EChartsJSPath returns the path of the local ECharts bundle (echarts.min.js): $SINKSCOPE_ECHARTS_JS
// when set; else echarts.min.js next to the running executable (`make build` puts one beside
// bin/sinkscope, so a copied binary keeps working outside the checkout); else
// node_modules/echarts/dist/echarts.min.js in the working directory or the nearest directory above
// it; else the same above this package's source directory (which finds the repository's copy when a
// notebook runs elsewhere).
func EChartsJSPath() (string, error) {
	if p := os.Getenv(EChartsEnv); p != "" {
		if err := isFile(p); err != nil {
			return "", fmt.Errorf("plots: $%s=%s: %w", EChartsEnv, p, err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), filepath.Base(echartsRel)); isFile(p) == nil {
			return p, nil
		}
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, echartsRel)
			if isFile(p) == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("plots: ECharts not found: no %s next to the executable, no %s above %v, and $%s is unset; "+
		"run scripts/setup.sh (it runs npm ci), copy echarts.min.js next to the binary, or point $%s (sinkscope reproduce: --echarts) at it",
		filepath.Base(echartsRel), echartsRel, starts, EChartsEnv, EChartsEnv)
}

func isFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "stat", Path: p, Err: errors.New("not a regular file")}
	}
	return nil
}

var echartsCache struct {
	sync.Mutex
	path string
	src  []byte
}

// EChartsJS returns the source of the local ECharts bundle (about 1 MB), read once per path.
func EChartsJS() ([]byte, error) {
	p, err := EChartsJSPath()
	if err != nil {
		return nil, err
	}
	echartsCache.Lock()
	defer echartsCache.Unlock()
	if echartsCache.path == p {
		return echartsCache.src, nil
	}
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("plots: reading ECharts: %w", err)
	}
	echartsCache.path, echartsCache.src = p, src
	return src, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames it over path, so that a
// reader never sees a half-written file.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	return nil
}
