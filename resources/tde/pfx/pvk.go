// Package pfx turns what SQL Server gives out of a certificate —
// CERTENCODED's DER certificate and CERTPRIVATEKEY's password-encrypted
// private key — into the PKCS#12 (PFX) a managed instance imports, in
// memory: nothing is written to disk, and the buffers holding key material
// are zeroed once used.
package pfx

import (
	"crypto/rc4"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// The PVK format ("private key file", Microsoft's, written by BACKUP
// CERTIFICATE ... WITH PRIVATE KEY and returned by CERTPRIVATEKEY), as
// documented by the CryptoAPI key BLOB pages and implemented independently
// by OpenSSL (pvkfmt.c):
//
//	offset  size  field (little-endian)
//	0       4     magic 0xb0b5f11e
//	4       4     reserved, 0
//	8       4     key spec: 1 AT_KEYEXCHANGE, 2 AT_SIGNATURE
//	12      4     encrypted: 0 or 1
//	16      4     salt length (16 when encrypted, else 0)
//	20      4     key BLOB length
//	24      salt
//	        key BLOB: an 8-byte BLOBHEADER (bType 0x07 PRIVATEKEYBLOB,
//	        bVersion 2, reserved, aiKeyAlg), then RSAPUBKEY ("RSA2", bit
//	        length, public exponent) and the key's numbers, little-endian:
//	        modulus (bits/8), prime1, prime2, exponent1, exponent2,
//	        coefficient (bits/16 each), private exponent (bits/8).
//
// When encrypted, everything after the BLOBHEADER is RC4-encrypted with
// the first 16 bytes of SHA1(salt || password). Old exports used a 40-bit
// key (the first 5 of those bytes, the other 11 zero); OpenSSL tries it
// when the strong key does not give "RSA2", and so does DecodePVK.
const (
	pvkMagic      = 0xb0b5f11e
	pvkHeaderLen  = 24
	blobHeaderLen = 8
	privateBlob   = 0x07
	rsa2Magic     = "RSA2"
	maxSaltLen    = 1024
	maxKeyBits    = 16384
)

// ErrWrongPassword is returned when the password does not decrypt the key.
var ErrWrongPassword = errors.New("pvk: the password does not decrypt the private key (or the data is not a private key)")

// DecodePVK decrypts a PVK private key with its password and returns the
// RSA key. Its decrypted copy of the key BLOB is zeroed before it returns;
// the caller wipes the key itself with WipeKey once it is done with it.
func DecodePVK(data []byte, password []byte) (*rsa.PrivateKey, error) {
	if len(data) < pvkHeaderLen {
		return nil, fmt.Errorf("pvk: %d bytes, shorter than the %d-byte header", len(data), pvkHeaderLen)
	}
	le := binary.LittleEndian
	if m := le.Uint32(data); m != pvkMagic {
		return nil, fmt.Errorf("pvk: magic %#08x, want %#08x: not a PVK private key", m, uint32(pvkMagic))
	}
	encrypted := le.Uint32(data[12:]) != 0
	saltLen := le.Uint32(data[16:])
	keyLen := le.Uint32(data[20:])
	if saltLen > maxSaltLen {
		return nil, fmt.Errorf("pvk: salt of %d bytes", saltLen)
	}
	if encrypted && saltLen == 0 {
		return nil, errors.New("pvk: encrypted without a salt")
	}
	if uint64(len(data)) < uint64(pvkHeaderLen)+uint64(saltLen)+uint64(keyLen) {
		return nil, fmt.Errorf("pvk: truncated: header says %d bytes of salt and key, %d present", uint64(saltLen)+uint64(keyLen), len(data)-pvkHeaderLen)
	}
	if keyLen < blobHeaderLen+12 {
		return nil, fmt.Errorf("pvk: key BLOB of %d bytes", keyLen)
	}
	salt := data[pvkHeaderLen : pvkHeaderLen+saltLen]
	src := data[pvkHeaderLen+saltLen : pvkHeaderLen+saltLen+keyLen]
	if src[0] != privateBlob {
		return nil, fmt.Errorf("pvk: BLOB type %#02x, want PRIVATEKEYBLOB (0x07)", src[0])
	}
	blob := make([]byte, len(src))
	defer clear(blob)
	copy(blob, src)
	if encrypted {
		if err := decryptBlob(blob, src, salt, password); err != nil {
			return nil, err
		}
	} else if string(blob[8:12]) != rsa2Magic {
		return nil, fmt.Errorf("pvk: key magic %q, want %q: not an RSA private key", blob[8:12], rsa2Magic)
	}
	return parseRSA2(blob[blobHeaderLen:])
}

// decryptBlob decrypts blob (a copy of src) in place: with the strong key,
// else with the 40-bit one.
func decryptBlob(blob, src, salt, password []byte) error {
	h := sha1.New()
	h.Write(salt)
	h.Write(password)
	sum := h.Sum(nil)
	defer clear(sum)
	key := sum[:16]
	if rc4Decrypt(key, blob[blobHeaderLen:]) && string(blob[8:12]) == rsa2Magic {
		return nil
	}
	copy(blob, src)
	clear(key[5:])
	if rc4Decrypt(key, blob[blobHeaderLen:]) && string(blob[8:12]) == rsa2Magic {
		return nil
	}
	return ErrWrongPassword
}

func rc4Decrypt(key, b []byte) bool {
	c, err := rc4.NewCipher(key)
	if err != nil {
		return false
	}
	c.XORKeyStream(b, b)
	return true
}

// parseRSA2 reads RSAPUBKEY and the key's numbers.
func parseRSA2(b []byte) (*rsa.PrivateKey, error) {
	le := binary.LittleEndian
	bits := le.Uint32(b[4:])
	exp := le.Uint32(b[8:])
	if bits < 256 || bits > maxKeyBits || bits%16 != 0 {
		return nil, fmt.Errorf("pvk: RSA key of %d bits", bits)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, fmt.Errorf("pvk: public exponent %d", exp)
	}
	full, half := int(bits/8), int(bits/16)
	body := b[12:]
	if need := 2*full + 5*half; len(body) < need {
		return nil, fmt.Errorf("pvk: %d bytes of key numbers, a %d-bit key needs %d", len(body), bits, need)
	}
	off := 0
	next := func(n int) *big.Int {
		v := littleEndianInt(body[off : off+n])
		off += n
		return v
	}
	n := next(full)
	p := next(half)
	q := next(half)
	dp := next(half)
	dq := next(half)
	qinv := next(half)
	d := next(full)
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: int(exp)}, D: d, Primes: []*big.Int{p, q}}
	if err := k.Validate(); err != nil {
		WipeKey(k)
		return nil, fmt.Errorf("pvk: inconsistent RSA key: %w", err)
	}
	k.Precompute()
	// The CRT values the BLOB carries must be the key's own: a corrupted
	// BLOB that still validates would otherwise sign wrongly.
	ok := k.Precomputed.Dp.Cmp(dp) == 0 && k.Precomputed.Dq.Cmp(dq) == 0 && k.Precomputed.Qinv.Cmp(qinv) == 0
	wipeInts(dp, dq, qinv)
	if !ok {
		WipeKey(k)
		return nil, errors.New("pvk: inconsistent RSA key: CRT values do not match the primes")
	}
	return k, nil
}

// littleEndianInt reads an unsigned little-endian number; its temporary
// big-endian copy is zeroed.
func littleEndianInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	clear(be)
	return v
}

// WipeKey overwrites the private numbers of an RSA key. Go gives no
// guarantee that no copy remains elsewhere in memory (the garbage
// collector may have moved one), so this narrows, not closes, the window.
func WipeKey(k *rsa.PrivateKey) {
	if k == nil {
		return
	}
	wipeInts(k.D)
	wipeInts(k.Primes...)
	wipeInts(k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv)
}

func wipeInts(xs ...*big.Int) {
	for _, x := range xs {
		if x != nil {
			clear(x.Bits())
			x.SetInt64(0)
		}
	}
}
