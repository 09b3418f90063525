package tde

import (
	"crypto/rand"
	"crypto/rc4"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/binary"
	"math/big"
)

// encodePVK is the fake SQL Server's CERTPRIVATEKEY: the documented PVK
// layout, RC4 with SHA1(salt || password).
func encodePVK(k *rsa.PrivateKey, password string) []byte {
	k.Precompute()
	bits := k.N.BitLen()
	le := func(n *big.Int, size int) []byte {
		b := n.FillBytes(make([]byte, size))
		for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
			b[l], b[r] = b[r], b[l]
		}
		return b
	}
	blob := []byte{0x07, 0x02, 0, 0}
	blob = binary.LittleEndian.AppendUint32(blob, 0xa400)
	blob = append(blob, "RSA2"...)
	blob = binary.LittleEndian.AppendUint32(blob, uint32(bits))
	blob = binary.LittleEndian.AppendUint32(blob, uint32(k.E))
	blob = append(blob, le(k.N, bits/8)...)
	for _, n := range []*big.Int{k.Primes[0], k.Primes[1], k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv} {
		blob = append(blob, le(n, bits/16)...)
	}
	blob = append(blob, le(k.D, bits/8)...)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	sum := sha1.Sum(append(append([]byte{}, salt...), password...))
	c, _ := rc4.NewCipher(sum[:16])
	c.XORKeyStream(blob[8:], blob[8:])
	var out []byte
	for _, v := range []uint32{0xb0b5f11e, 0, 1, 1, 16, uint32(len(blob))} {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	return append(append(out, salt...), blob...)
}
