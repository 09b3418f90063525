package host

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// fakeTransport is a host in memory: files with modes, and programs that
// are recorded and answered by exec. It is what a transport over a network
// looks like to Linux and Windows, so they are tested through the
// interface alone.
type fakeTransport struct {
	os     string
	files  map[string]fakeFile
	errs   map[string]error // path → error of every file operation on it
	exec   func(argv []string) (Output, error)
	ran    [][]string
	writes []string // paths written, in order
}

type fakeFile struct {
	data []byte
	mode fs.FileMode
}

func newFake(files map[string]fakeFile) *fakeTransport {
	if files == nil {
		files = map[string]fakeFile{}
	}
	return &fakeTransport{os: "linux", files: files, errs: map[string]error{}}
}

func (f *fakeTransport) Exec(_ context.Context, c Command) (Output, error) {
	f.ran = append(f.ran, c.Argv)
	if f.exec != nil {
		return f.exec(c.Argv)
	}
	return Output{}, nil
}

func (f *fakeTransport) file(path string) (fakeFile, error) {
	if err := f.errs[path]; err != nil {
		return fakeFile{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	ff, ok := f.files[path]
	if !ok {
		return fakeFile{}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return ff, nil
}

func (f *fakeTransport) ReadFile(_ context.Context, path string) ([]byte, error) {
	ff, err := f.file(path)
	return append([]byte(nil), ff.data...), err
}

func (f *fakeTransport) WriteFile(_ context.Context, path string, data []byte, perm fs.FileMode) error {
	if err := f.errs[path]; err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	if perm == 0 {
		perm = 0o644
	}
	if old, ok := f.files[path]; ok {
		perm = old.mode
	}
	f.files[path] = fakeFile{data: append([]byte(nil), data...), mode: perm}
	f.writes = append(f.writes, path)
	return nil
}

func (f *fakeTransport) Stat(_ context.Context, path string) (fs.FileInfo, error) {
	ff, err := f.file(path)
	if err != nil {
		return nil, err
	}
	return fakeInfo{name: path[strings.LastIndexByte(path, '/')+1:], f: ff}, nil
}

func (f *fakeTransport) OS() string { return f.os }

type fakeInfo struct {
	name string
	f    fakeFile
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return int64(len(i.f.data)) }
func (i fakeInfo) Mode() fs.FileMode  { return i.f.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.f.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

// failWith answers every program with exit status code and stderr.
func failWith(code int, stderr string) func([]string) (Output, error) {
	return func([]string) (Output, error) {
		return Output{Stderr: []byte(stderr), ExitCode: code}, fmt.Errorf("exit status %d", code)
	}
}
