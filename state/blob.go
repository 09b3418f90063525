package state

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// The Azure Blob backend keeps the state in one block blob, KEY (or
// KEYenv:NAME for workspace NAME, as Terraform names its workspaces), in a
// container of a storage account.
//
// The lock is a lease on that blob, of finite duration (60 s by default),
// renewed in the background at a third of it. A run killed with -9 stops
// renewing, and the lease expires by itself: the next run takes it without
// anyone typing force-unlock. Who holds it (ID, operation, who, when, pid)
// is in the blob's metadata, which a waiting run reads.
//
// Every write is conditional twice: on the lease ID (so a run whose lease
// was broken or expired cannot write) and on the ETag this backend last saw
// (so nothing written by someone else meanwhile is overwritten).
//
// Recording one change must not cost the size of the state (see
// Backend.Record). The blob is therefore a block list: the document is one
// block, and each Record stages one block holding one journal line (the
// format of journal.go) and commits the list with that block appended:
// two requests carrying the change and the list of block IDs, whatever the
// size of the state, and the commit is atomic, so no torn line exists. The
// alternatives were measured (BenchmarkBlobRecord vs BenchmarkBlobSave,
// on Azurite, 2 busy cores): a record took 30-60 ms whether the state held
// 10 or 2,000 resources, while rewriting the whole document with an ETag
// condition each time took 160 ms at 10 and 570 ms at 2,000, growing with
// the state; an append blob beside the state would make
// the journal a second blob that the lease on the first does not guard, so
// a run that lost its lease could still append to it. Compaction rewrites
// the blob as the document alone: when the journal outgrows the state, and
// at Unlock.
//
// Every document written (Save, compaction, push) is also copied to
// KEY.versions/SERIAL, so the previous versions stay at hand whether or
// not the account has blob versioning (Azurite has not).

// BlobConfig says where the state lives in Azure Blob Storage and how to
// sign in.
type BlobConfig struct {
	StorageAccount string
	Container      string
	// Key is the blob's name for the default workspace.
	Key string
	// Workspace selects KEYenv:NAME instead; "" or "default" is KEY.
	Workspace string
	// Endpoint is the blob service's URL, for Azurite or a sovereign
	// cloud; default https://ACCOUNT.blob.core.windows.net.
	Endpoint string
	// SASToken or AccessKey, for those who cannot use Entra ID; with
	// neither, Credential (or DefaultAzureCredential when nil) is used.
	// Both are secrets: they are never printed.
	SASToken  string
	AccessKey string
	// Credential overrides DefaultAzureCredential.
	Credential azcore.TokenCredential
	// LeaseDuration is the lock's lease, 15 to 60 seconds (Azure's
	// bounds); 0 means 60 s.
	LeaseDuration time.Duration
	// Transport replaces the HTTP client (tests).
	Transport policy.Transporter
}

// DefaultLeaseDuration is the lock's lease when none is configured.
const DefaultLeaseDuration = 60 * time.Second

var workspaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,89}$`)

// CheckWorkspace refuses a workspace name that could not be a file or
// blob name component.
func CheckWorkspace(name string) error {
	if name == "" || name == "default" {
		return nil
	}
	if !workspaceRE.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("workspace name %q is not valid: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 90)", name)
	}
	return nil
}

// BlobName is the name of the blob holding workspace's state.
func BlobName(key, workspace string) string {
	if workspace == "" || workspace == "default" {
		return key
	}
	return key + "env:" + workspace
}

type blobBackend struct {
	cfg     BlobConfig
	name    string // the state blob's name
	where   string // its URL, without any SAS, for messages
	cont    *container.Client
	bb      *blockblob.Client
	leaseTo time.Duration

	mu    sync.Mutex
	known *blobKnown
	// held is the lock this backend holds, nil when none.
	held *blobLock

	// compactBytes: see local.compactBytes.
	compactBytes int64
	// beforeCommit runs before each commit of the state blob (tests: a
	// lease broken behind milink's back).
	beforeCommit func()
}

// blobKnown is what this backend last read or wrote.
type blobKnown struct {
	exists  bool // the blob exists (possibly empty: created to be leased)
	etag    azcore.ETag
	lineage string
	serial  int64
	// blocks are the committed block IDs: the document, then one per
	// journal line; journalBytes their size past the document.
	blocks       []string
	journalBytes int64
	docBytes     int64
	hasDoc       bool
}

// NewBlob returns the Azure Blob backend described by cfg.
func NewBlob(cfg BlobConfig) (Backend, error) {
	if cfg.StorageAccount == "" && cfg.Endpoint == "" {
		return nil, errors.New("azurerm backend: storage_account is required")
	}
	if cfg.Container == "" {
		return nil, errors.New("azurerm backend: container is required")
	}
	if cfg.Key == "" {
		cfg.Key = DefaultPath
	}
	if err := CheckWorkspace(cfg.Workspace); err != nil {
		return nil, err
	}
	d := cfg.LeaseDuration
	if d == 0 {
		d = DefaultLeaseDuration
	}
	if d < 15*time.Second || d > 60*time.Second {
		return nil, fmt.Errorf("azurerm backend: the lease must last 15 to 60 seconds (got %s)", d)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://" + cfg.StorageAccount + ".blob.core.windows.net"
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("azurerm backend: endpoint %q is not a URL", endpoint)
	}
	u.RawQuery, u.Fragment = "", ""
	contURL := strings.TrimSuffix(u.String(), "/") + "/" + url.PathEscape(cfg.Container)
	var opts *container.ClientOptions
	if cfg.Transport != nil {
		opts = &container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: cfg.Transport}}
	}
	var cont *container.Client
	switch {
	case cfg.AccessKey != "":
		account := cfg.StorageAccount
		if account == "" {
			return nil, errors.New("azurerm backend: access_key needs storage_account")
		}
		cred, err := container.NewSharedKeyCredential(account, cfg.AccessKey)
		if err != nil {
			// The SDK's message could quote the key; say what is wrong
			// without it.
			return nil, errors.New("azurerm backend: access_key is not a valid storage account key (base64)")
		}
		cont, err = container.NewClientWithSharedKeyCredential(contURL, cred, opts)
		if err != nil {
			return nil, fmt.Errorf("azurerm backend: %w", err)
		}
	case cfg.SASToken != "":
		cont, err = container.NewClientWithNoCredential(contURL+"?"+strings.TrimPrefix(cfg.SASToken, "?"), opts)
		if err != nil {
			return nil, errors.New("azurerm backend: sas_token does not make a valid URL")
		}
	default:
		cred := cfg.Credential
		if cred == nil {
			c, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				return nil, fmt.Errorf("azurerm backend: signing in to Azure: %w", err)
			}
			cred = c
		}
		cont, err = container.NewClient(contURL, cred, opts)
		if err != nil {
			return nil, fmt.Errorf("azurerm backend: %w", err)
		}
	}
	name := BlobName(cfg.Key, cfg.Workspace)
	return &blobBackend{
		cfg:     cfg,
		name:    name,
		where:   contURL + "/" + name,
		cont:    cont,
		bb:      cont.NewBlockBlobClient(name),
		leaseTo: d,
	}, nil
}

func (b *blobBackend) versionName(serial int64) string {
	return fmt.Sprintf("%s.versions/%012d", b.name, serial)
}

// blockID names the block of a document (kind 'd') or a journal line
// ('j') written at serial; all IDs of a blob must have the same length.
func blockID(kind byte, serial int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "milink-%c-%016d", kind, serial))
}

// azErr describes a storage error by its code and status, without the
// request (whose URL could carry a SAS token).
func (b *blobBackend) azErr(what string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = fmt.Sprint(re.StatusCode)
		}
		e := fmt.Errorf("%s %s: %s (HTTP %d)", what, b.where, code, re.StatusCode)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			e = fmt.Errorf("%w: the container %q does not exist; create it first", e, b.cfg.Container)
		}
		return &blobError{msg: e.Error(), err: err}
	}
	return fmt.Errorf("%s %s: %s", what, b.where, scrubSAS(err.Error(), b.cfg.SASToken))
}

// blobError keeps the SDK's error for errors.As and bloberror.HasCode but
// prints only our summary.
type blobError struct {
	msg string
	err error
}

func (e *blobError) Error() string { return e.msg }
func (e *blobError) Unwrap() error { return e.err }

func scrubSAS(s, sas string) string {
	sas = strings.TrimPrefix(sas, "?")
	if sas != "" {
		s = strings.ReplaceAll(s, sas, "(sas_token)")
	}
	// Whatever else: a signature in a URL.
	return sigRE.ReplaceAllString(s, "sig=(redacted)")
}

var sigRE = regexp.MustCompile(`sig=[^&\s"]+`)

// read downloads the blob and its journal and remembers what it read.
func (b *blobBackend) read(ctx context.Context) (*State, error) {
	b.known = nil
	resp, err := b.bb.DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		b.known = &blobKnown{}
		return New(), nil
	}
	if err != nil {
		return nil, b.azErr("reading state", err)
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading state %s: %w", b.where, err)
	}
	k := &blobKnown{exists: true}
	if resp.ETag != nil {
		k.etag = *resp.ETag
	}
	if len(data) == 0 {
		// Created empty to be leased, never written.
		b.known = k
		return New(), nil
	}
	st, docBytes, journalBytes, err := parseBlob(data, b.where, b.name)
	if err != nil {
		return nil, err
	}
	k.hasDoc, k.docBytes, k.journalBytes = true, docBytes, journalBytes
	k.lineage, k.serial = st.Lineage, st.Serial
	if k.hasDoc {
		bl, err := b.bb.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
		if err != nil {
			return nil, b.azErr("reading the block list of state", err)
		}
		if bl.ETag != nil && *bl.ETag != k.etag {
			return nil, fmt.Errorf("state %s changed while it was being read; try again", b.where)
		}
		for _, blk := range bl.BlockList.CommittedBlocks {
			if blk.Name != nil {
				k.blocks = append(k.blocks, *blk.Name)
			}
		}
	}
	b.known = k
	return st, nil
}

func (b *blobBackend) Load(ctx context.Context) (*State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A reader without the lock can meet a commit between its two
	// requests; it reads again.
	var err error
	for range 3 {
		var st *State
		st, err = b.read(ctx)
		if err == nil {
			return st, nil
		}
		if !strings.Contains(err.Error(), "changed while it was being read") {
			return nil, err
		}
	}
	return nil, err
}

// usable refuses to write once the lease is lost: the run must stop before
// its next step, and the conditions of the write would refuse anyway.
func (b *blobBackend) usable() error {
	if b.held == nil {
		return nil
	}
	return b.held.Err()
}

func (b *blobBackend) checkSuccession(ctx context.Context, s *State) error {
	if b.known == nil {
		if _, err := b.read(ctx); err != nil {
			return fmt.Errorf("refusing to overwrite: %w", err)
		}
	}
	k := b.known
	if !k.hasDoc {
		return nil
	}
	if k.lineage != s.Lineage {
		return fmt.Errorf("refusing to overwrite state %s: it has lineage %s, not %s (a different state)", b.where, k.lineage, s.Lineage)
	}
	if k.serial > s.Serial {
		return fmt.Errorf("refusing to overwrite state %s: it is at serial %d, newer than the %d this run read (someone else applied meanwhile)", b.where, k.serial, s.Serial)
	}
	return nil
}

func (b *blobBackend) Save(ctx context.Context, s *State) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.save(ctx, s)
}

func (b *blobBackend) save(ctx context.Context, s *State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saving state %s: %w", b.where, err)
	}
	if err := b.usable(); err != nil {
		return fmt.Errorf("saving state %s: %w", b.where, err)
	}
	if err := b.checkSuccession(ctx, s); err != nil {
		return err
	}
	next := *s
	next.Serial = s.Serial + 1
	data, err := Encode(&next)
	if err != nil {
		return fmt.Errorf("saving state %s: %w", b.where, err)
	}
	if err := b.writeDoc(ctx, data, next.Lineage, next.Serial); err != nil {
		return err
	}
	s.Serial = next.Serial
	return nil
}

// writeDoc replaces the blob's content with the document data (the whole
// state at serial), ending any journal, and keeps a copy under versions/.
func (b *blobBackend) writeDoc(ctx context.Context, data []byte, lineage string, serial int64) error {
	id := blockID('d', serial)
	if err := b.commit(ctx, id, data, []string{id}); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	k := b.known
	k.hasDoc, k.docBytes, k.journalBytes = true, int64(len(data)), 0
	k.lineage, k.serial = lineage, serial
	// The copy is a convenience for people restoring by hand; the state
	// is written, so a failure here is not the run's failure.
	vb := b.cont.NewBlockBlobClient(b.versionName(serial))
	if _, err := vb.UploadBuffer(ctx, data, nil); err != nil {
		progress(ctx, fmt.Sprintf("Warning: keeping a copy of state serial %d: %v", serial, b.azErr("writing", err)))
	}
	return nil
}

// commit stages data as block id and commits blocks (which end with it),
// on the conditions: the ETag last seen, the lease held.
func (b *blobBackend) commit(ctx context.Context, id string, data []byte, blocks []string) error {
	k := b.known
	var lac *blob.LeaseAccessConditions
	if b.held != nil {
		lac = &blob.LeaseAccessConditions{LeaseID: &b.held.info.ID}
	}
	if _, err := b.bb.StageBlock(ctx, id, nopCloser{bytes.NewReader(data)}, &blockblob.StageBlockOptions{LeaseAccessConditions: lac}); err != nil {
		return b.leaseOr(b.azErr("writing a block of", err))
	}
	if b.beforeCommit != nil {
		b.beforeCommit()
	}
	mac := &blob.ModifiedAccessConditions{}
	if k.exists {
		mac.IfMatch = &k.etag
	} else {
		star := azcore.ETagAny
		mac.IfNoneMatch = &star
	}
	opts := &blockblob.CommitBlockListOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: lac, ModifiedAccessConditions: mac},
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: strPtr("application/json")},
	}
	if b.held != nil {
		opts.Metadata = b.held.metadata()
	}
	resp, err := b.bb.CommitBlockList(ctx, blocks, opts)
	if err != nil {
		if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
			b.known = nil
			return fmt.Errorf("state %s was changed by someone else since this run read it: nothing was written", b.where)
		}
		return b.leaseOr(b.azErr("committing", err))
	}
	k.exists = true
	if resp.ETag != nil {
		k.etag = *resp.ETag
	}
	k.blocks = append([]string(nil), blocks...)
	return nil
}

// leaseOr turns a refusal for want of our lease into the lease's story.
func (b *blobBackend) leaseOr(err error) error {
	if bloberror.HasCode(err, bloberror.LeaseIDMismatchWithBlobOperation, bloberror.LeaseNotPresentWithBlobOperation, bloberror.LeaseLost) {
		b.known = nil
		if b.held != nil {
			b.held.lose(fmt.Errorf("the lease on state %s was lost (broken or expired): another run may hold the lock now", b.where))
		}
		return fmt.Errorf("nothing was written: the lease on state %s is no longer this run's (%w)", b.where, err)
	}
	return err
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func strPtr[T any](v T) *T { return &v }

// Record stages one journal line and commits the block list with it.
func (b *blobBackend) Record(ctx context.Context, s *State, addrs ...string) error {
	if len(addrs) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("recording state %s: %w", b.where, err)
	}
	if err := validateHeader(s); err != nil {
		return fmt.Errorf("recording state %s: %w", b.where, err)
	}
	if err := b.usable(); err != nil {
		return fmt.Errorf("recording state %s: %w", b.where, err)
	}
	if err := b.checkSuccession(ctx, s); err != nil {
		return err
	}
	k := b.known
	if !k.hasDoc || k.serial != s.Serial || len(k.blocks) == 0 || len(k.blocks) >= 40000 {
		// Nothing stored yet, the caller is ahead of the stored state, or
		// the block list nears Azure's limit of 50,000: write it whole.
		return b.save(ctx, s)
	}
	line, err := journalLine(s, addrs)
	if err != nil {
		return fmt.Errorf("recording state %s: %w", b.where, err)
	}
	line = append(line, '\n')
	serial := s.Serial + 1 // the entry's, as journalLine writes it
	id := blockID('j', serial)
	if err := b.commit(ctx, id, line, append(append([]string(nil), k.blocks...), id)); err != nil {
		return fmt.Errorf("recording state: %w", err)
	}
	s.Serial = serial
	k.serial = serial
	k.journalBytes += int64(len(line))
	if k.journalBytes > max(b.compactFloor(), k.docBytes) {
		// Recorded already; a failed compaction is retried at Unlock.
		_ = b.compact(ctx)
	}
	return nil
}

func (b *blobBackend) compactFloor() int64 {
	if b.compactBytes > 0 {
		return b.compactBytes
	}
	return defaultCompactBytes
}

// compact rewrites the blob as the document alone, at the journal's last
// serial.
func (b *blobBackend) compact(ctx context.Context) error {
	st, err := b.read(ctx)
	if err != nil {
		return err
	}
	if b.known.journalBytes == 0 {
		return nil
	}
	data, err := Encode(st)
	if err != nil {
		return fmt.Errorf("compacting state %s: %w", b.where, err)
	}
	return b.writeDoc(ctx, data, st.Lineage, st.Serial)
}

// Replace writes s as the stored state, serial and lineage as they are:
// state push. The caller holds the lock and has checked the rules.
func (b *blobBackend) Replace(ctx context.Context, s *State) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(); err != nil {
		return err
	}
	data, err := Encode(s)
	if err != nil {
		return fmt.Errorf("writing state %s: %w", b.where, err)
	}
	if b.known == nil {
		if _, err := b.read(ctx); err != nil {
			return err
		}
	}
	return b.writeDoc(ctx, data, s.Lineage, s.Serial)
}

// Location is where the state is, for messages.
func (b *blobBackend) Location() string { return b.where }

// parseBlob reads the blob's content: the document (the first JSON value,
// with its newline), then the journal lines the Record commits appended.
// where and name are for messages.
func parseBlob(data []byte, where, name string) (st *State, docBytes, journalBytes int64, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, 0, 0, fmt.Errorf("state %s is corrupt (%v): it was left untouched; restore a copy from %s.versions/", where, err, name)
	}
	docEnd := dec.InputOffset()
	if docEnd < int64(len(data)) && data[docEnd] == '\n' {
		docEnd++
	}
	st, err = Decode(data[:docEnd], where)
	if err != nil {
		return nil, 0, 0, err
	}
	rest := data[docEnd:]
	if len(rest) == 0 {
		return st, docEnd, 0, nil
	}
	h, err := json.Marshal(journalHeader{Magic: journalMagic, FormatVersion: FormatVersion, Lineage: st.Lineage})
	if err != nil {
		return nil, 0, 0, err
	}
	scan, err := replayJournal(st, append(append(h, '\n'), rest...), where+" (journal blocks)", where)
	if err != nil {
		return nil, 0, 0, err
	}
	if scan.torn {
		return nil, 0, 0, fmt.Errorf("state %s ends with an incomplete journal line, which a committed block list cannot produce: it was left untouched", where)
	}
	return st, docEnd, int64(len(rest)), nil
}
