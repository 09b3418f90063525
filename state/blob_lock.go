package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/google/uuid"
)

// The lock record lives in the state blob's metadata under these names
// (Azure metadata names are C# identifiers, compared without case). The
// lease ID is the lock ID, so that force-unlock ID can be checked against
// the lease it would break.
const (
	metaID      = "milinklockid"
	metaOp      = "milinklockoperation"
	metaWho     = "milinklockwho"
	metaCreated = "milinklockcreated"
	metaPID     = "milinklockpid"
)

// Watched is a lock that can be lost while held (a lease that could not be
// renewed). Done is closed when it is lost, and Err then says why; the run
// stops before its next step.
type Watched interface {
	Lock
	Done() <-chan struct{}
	Err() error
}

type blobLock struct {
	b    *blobBackend
	info LockInfo
	lc   *lease.BlobClient

	stop    chan struct{}
	stopped chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	lost    error
	once    sync.Once
	err     error
}

func (k *blobLock) ID() string            { return k.info.ID }
func (k *blobLock) Done() <-chan struct{} { return k.done }

func (k *blobLock) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lost
}

func (k *blobLock) lose(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lost == nil {
		k.lost = err
		close(k.done)
	}
}

// metadata is the lock record as blob metadata; values are ASCII.
func (k *blobLock) metadata() map[string]*string {
	i := k.info
	return map[string]*string{
		metaID:      strPtr(i.ID),
		metaOp:      strPtr(ascii(i.Operation)),
		metaWho:     strPtr(ascii(i.Who)),
		metaCreated: strPtr(i.Created.Format(time.RFC3339)),
		metaPID:     strPtr(strconv.Itoa(i.PID)),
	}
}

func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// recordFrom reads a lock record from metadata; ok is false when there is
// none.
func recordFrom(md map[string]*string, where string) (LockInfo, bool) {
	get := func(name string) string {
		for k, v := range md {
			if strings.EqualFold(k, name) && v != nil {
				return *v
			}
		}
		return ""
	}
	i := LockInfo{ID: get(metaID), Operation: get(metaOp), Who: get(metaWho), Path: where}
	if i.ID == "" {
		return LockInfo{}, false
	}
	i.Created, _ = time.Parse(time.RFC3339, get(metaCreated))
	i.PID, _ = strconv.Atoi(get(metaPID))
	return i, true
}

// holder reads the blob's lease and lock record.
func (b *blobBackend) holder(ctx context.Context) (leased bool, info LockInfo, hasInfo bool, etag azcore.ETag, err error) {
	p, err := b.bb.GetProperties(ctx, nil)
	if err != nil {
		return false, LockInfo{}, false, "", b.azErr("reading the lock of state", err)
	}
	leased = p.LeaseState != nil && *p.LeaseState == lease.StateTypeLeased
	info, hasInfo = recordFrom(p.Metadata, b.where)
	if p.ETag != nil {
		etag = *p.ETag
	}
	return leased, info, hasInfo, etag, nil
}

// Lock creates the blob if needed (empty: a lease needs a blob), acquires a
// lease whose ID is the lock ID, writes the lock record into the metadata
// and starts renewing the lease. While another run holds it, it retries
// until timeout, reporting through WithProgress.
func (b *blobBackend) Lock(ctx context.Context, op string, timeout time.Duration) (Lock, error) {
	info := LockInfo{
		ID:        uuid.NewString(),
		Operation: op,
		Who:       whoami(),
		Created:   time.Now().UTC().Truncate(time.Second),
		PID:       os.Getpid(),
		Path:      b.where,
	}
	star := azcore.ETagAny
	_, err := b.bb.Upload(ctx, nopCloser{bytes.NewReader(nil)}, &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &star}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.LeaseIDMissing) {
		return nil, b.azErr("locking state: creating", err)
	}
	lc, err := lease.NewBlobClient(b.bb, &lease.BlobClientOptions{LeaseID: &info.ID})
	if err != nil {
		return nil, fmt.Errorf("locking state %s: %w", b.where, err)
	}
	start := time.Now()
	deadline := start.Add(timeout)
	pause := 250 * time.Millisecond
	var lastReport time.Time
	for {
		// What the previous holder left, read before taking the lease: a
		// record there while nobody holds the lease is a run that died.
		_, prev, hadPrev, _, perr := b.holder(ctx)
		_, err := lc.AcquireLease(ctx, int32(b.leaseTo/time.Second), nil)
		if err == nil {
			if perr == nil && hadPrev {
				progress(ctx, fmt.Sprintf("Note: the previous holder of the state lock (%s, lock ID %s) ended without releasing it; its lease expired or was broken. If it was applying, the state records what it finished.", describeHolder(prev), prev.ID))
			}
			return b.took(ctx, lc, info)
		}
		if !bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return nil, b.azErr("locking state", err)
		}
		leased, holder, ok, _, herr := b.holder(ctx)
		if herr == nil && !leased {
			continue // released meanwhile
		}
		lerr := &LockError{Path: b.where, Info: holder, ForceUnlockable: true, Waited: time.Since(start)}
		if herr != nil {
			lerr.InfoErr = herr
		} else if !ok {
			lerr.InfoErr = errors.New("the blob is leased but carries no lock record (not a milink lock, or one being taken)")
		}
		if timeout <= 0 || !time.Now().Before(deadline) {
			return nil, lerr
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			progress(ctx, fmt.Sprintf("Waiting for the state lock held by %s; giving up in %s", lerr.holder(), time.Until(deadline).Round(time.Second)))
		}
		wait := pause
		if rest := time.Until(deadline); rest < wait {
			wait = rest
		}
		if pause < 2*time.Second {
			pause *= 2
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			lerr.Canceled = true
			return nil, fmt.Errorf("%w: %w", lerr, ctx.Err())
		case <-t.C:
		}
	}
}

// took writes the lock record, starts the renewal and folds in what a
// killed holder recorded.
func (b *blobBackend) took(ctx context.Context, lc *lease.BlobClient, info LockInfo) (Lock, error) {
	k := &blobLock{b: b, info: info, lc: lc, stop: make(chan struct{}), stopped: make(chan struct{}), done: make(chan struct{})}
	_, err := b.bb.SetMetadata(ctx, k.metadata(), &blob.SetMetadataOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &info.ID}},
	})
	if err != nil {
		_, _ = lc.ReleaseLease(context.WithoutCancel(ctx), nil)
		return nil, b.azErr("locking state: writing the lock record of", err)
	}
	b.mu.Lock()
	b.held = k
	b.known = nil
	b.mu.Unlock()
	go k.renew()
	b.mu.Lock()
	err = b.compact(ctx)
	b.mu.Unlock()
	if err != nil {
		progress(ctx, fmt.Sprintf("Warning: %v", err))
	}
	return k, nil
}

// renew renews the lease at a third of its duration. A renewal refused
// (the lease was broken, or expired and was taken) loses the lock at once;
// one that fails for another reason is retried until the lease would have
// expired, and then the lock is lost. Either way the run stops before its
// next step, and its writes are refused by their lease condition.
func (k *blobLock) renew() {
	defer close(k.stopped)
	every := k.b.leaseTo / 3
	last := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_, err := k.lc.RenewLease(ctx, nil)
		cancel()
		switch {
		case err == nil:
			last = time.Now()
		case bloberror.HasCode(err, bloberror.LeaseIDMismatchWithLeaseOperation, bloberror.LeaseIsBrokenAndCannotBeRenewed, bloberror.LeaseNotPresentWithLeaseOperation, bloberror.LeaseLost, bloberror.BlobNotFound):
			k.lose(fmt.Errorf("the lease on state %s was lost (%v): another run may hold the lock now", k.b.where, k.b.azErr("renewing the lease of", err)))
			return
		case time.Since(last) > k.b.leaseTo-every/2:
			k.lose(fmt.Errorf("the lease on state %s could not be renewed before it expired: %v", k.b.where, k.b.azErr("renewing the lease of", err)))
			return
		}
	}
}

// Unlock stops the renewal, compacts what this run recorded, clears the
// record and releases the lease. With the lease lost there is nothing of
// ours to release.
func (k *blobLock) Unlock() error {
	k.once.Do(func() {
		close(k.stop)
		<-k.stopped
		b := k.b
		b.mu.Lock()
		defer b.mu.Unlock()
		defer func() { b.held = nil; b.known = nil }()
		if lost := k.Err(); lost != nil {
			k.err = fmt.Errorf("unlocking state %s: %w", b.where, lost)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*b.leaseTo)
		defer cancel()
		var errs []error
		if err := b.compact(ctx); err != nil {
			errs = append(errs, err)
		}
		if _, err := b.bb.SetMetadata(ctx, map[string]*string{}, &blob.SetMetadataOptions{
			AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &k.info.ID}},
		}); err != nil {
			errs = append(errs, b.azErr("clearing the lock record of", err))
		}
		if _, err := k.lc.ReleaseLease(ctx, nil); err != nil {
			errs = append(errs, b.azErr("releasing the lease of", err))
		}
		if err := errors.Join(errs...); err != nil {
			k.err = fmt.Errorf("unlocking state %s: %w", b.where, err)
		}
	})
	return k.err
}

// ForceUnlock breaks the lease when its lock ID is id, and clears the
// record; it refuses any other ID. A record left by a run whose lease
// already expired is cleared too.
func (b *blobBackend) ForceUnlock(ctx context.Context, id string) error {
	leased, info, ok, etag, err := b.holder(ctx)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("state %s is not locked: it does not exist", b.where)
	}
	if err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	if !ok || info.ID != id || id == "" {
		if leased {
			if !ok {
				return fmt.Errorf("force-unlock refused: %s is leased without a milink lock record; not breaking it", b.where)
			}
			return fmt.Errorf("force-unlock refused: the lock on %s has ID %s (%s), not %q", b.where, info.ID, describeHolder(info), id)
		}
		return fmt.Errorf("state %s is not locked", b.where)
	}
	if leased {
		lc, err := lease.NewBlobClient(b.bb, nil)
		if err != nil {
			return fmt.Errorf("force-unlock: %w", err)
		}
		zero := int32(0)
		if _, err := lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: &zero, ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}}); err != nil {
			if bloberror.HasCode(err, bloberror.ConditionNotMet) {
				return fmt.Errorf("force-unlock refused: the lock on %s changed while breaking it; look again", b.where)
			}
			return fmt.Errorf("force-unlock: %w", b.azErr("breaking the lease of", err))
		}
		// Breaking changes no ETag; the record is cleared on the same one.
	}
	if _, err := b.bb.SetMetadata(ctx, map[string]*string{}, &blob.SetMetadataOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}},
	}); err != nil && !bloberror.HasCode(err, bloberror.ConditionNotMet) {
		return fmt.Errorf("force-unlock: %w", b.azErr("clearing the lock record of", err))
	}
	return nil
}
