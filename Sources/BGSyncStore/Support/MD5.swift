/// MD5 message digest (RFC 1321), in pure Swift.
///
/// MD5 is not collision resistant; it is provided for compatibility with
/// CouchDB, which uses it for revision ids and attachment digests.
///
/// Why not swift-crypto's `Insecure.MD5`: on Linux swift-crypto brings its own copy of
/// BoringSSL, and bgsync already links one through swift-nio-ssl (TLS); a second copy would
/// add megabytes to the static binary and a minute to every clean build, for ~150 lines of a
/// stable algorithm whose RFC 1321 test vectors are checked in `MD5Tests`. The store, which
/// hashes every revision, would also have to depend on a TLS-sized package.
package enum MD5 {
    /// The 16-byte MD5 digest of `bytes`.
    package static func digest(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = MD5Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The MD5 digest of `bytes` as 32 lowercase hex characters.
    package static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        hex(digest(bytes))
    }

    /// Formats bytes (e.g. a digest) as lowercase hex.
    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// An incremental MD5 hasher: feed it bytes in pieces of any size with `update`,
/// then call ``finalize()`` once.
package struct MD5Hasher: Sendable {
    private var a: UInt32 = 0x6745_2301
    private var b: UInt32 = 0xEFCD_AB89
    private var c: UInt32 = 0x98BA_DCFE
    private var d: UInt32 = 0x1032_5476
    /// Bytes not yet processed (always fewer than 64).
    private var buffer: [UInt8] = []
    /// Total number of bytes fed so far.
    private var length: UInt64 = 0

    /// Creates a hasher in its initial state.
    package init() {
        buffer.reserveCapacity(64)
    }

    /// Feeds raw bytes.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        length &+= UInt64(bytes.count)
        var index = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, bytes.count)
            buffer.append(contentsOf: bytes[0..<take])
            index = take
            guard buffer.count == 64 else { return }
            var block: [UInt8] = []
            swap(&block, &buffer)
            block.withUnsafeBytes { processBlock($0, at: 0) }
            block.removeAll(keepingCapacity: true)
            buffer = block
        }
        while bytes.count - index >= 64 {
            processBlock(bytes, at: index)
            index += 64
        }
        if index < bytes.count {
            buffer.append(contentsOf: bytes[index..<bytes.count])
        }
    }

    /// Feeds a sequence of bytes (contiguous collections such as `[UInt8]` or
    /// `String.UTF8View` are hashed without copying).
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { pointer in
            update(UnsafeRawBufferPointer(pointer))
        }
        if done != nil { return }
        var chunk: [UInt8] = []
        chunk.reserveCapacity(4096)
        for byte in bytes {
            chunk.append(byte)
            if chunk.count == 4096 {
                chunk.withUnsafeBytes { update($0) }
                chunk.removeAll(keepingCapacity: true)
            }
        }
        chunk.withUnsafeBytes { update($0) }
    }

    /// Pads the message, returns the 16-byte digest, and resets the hasher to its
    /// initial state.
    package mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var padding: [UInt8] = [0x80]
        let afterPad = (buffer.count + 1) % 64
        let zeros = afterPad <= 56 ? 56 - afterPad : 120 - afterPad
        padding.append(contentsOf: repeatElement(0, count: zeros))
        for shift in stride(from: 0, to: 64, by: 8) {
            padding.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        let savedLength = length
        padding.withUnsafeBytes { update($0) }
        length = savedLength
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for word in [a, b, c, d] {
            out.append(UInt8(truncatingIfNeeded: word))
            out.append(UInt8(truncatingIfNeeded: word >> 8))
            out.append(UInt8(truncatingIfNeeded: word >> 16))
            out.append(UInt8(truncatingIfNeeded: word >> 24))
        }
        self = MD5Hasher()
        return out
    }

    /// Like ``finalize()``, but returns the digest as lowercase hex.
    package mutating func finalizeHex() -> String {
        MD5.hex(finalize())
    }

    private static let shifts: [UInt32] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ]

    /// K[i] = floor(abs(sin(i + 1)) * 2^32).
    private static let constants: [UInt32] = [
        0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
        0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
        0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
        0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
        0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
        0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
        0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
        0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
    ]

    /// Processes the 64-byte block of `bytes` starting at `start`.
    private mutating func processBlock(_ bytes: UnsafeRawBufferPointer, at start: Int) {
        var aa = a
        var bb = b
        var cc = c
        var dd = d
        Self.constants.withUnsafeBufferPointer { k in
            Self.shifts.withUnsafeBufferPointer { s in
                for i in 0..<64 {
                    var f: UInt32
                    let g: Int
                    switch i >> 4 {
                    case 0:
                        f = (bb & cc) | (~bb & dd)
                        g = i
                    case 1:
                        f = (dd & bb) | (~dd & cc)
                        g = (5 &* i &+ 1) & 15
                    case 2:
                        f = bb ^ cc ^ dd
                        g = (3 &* i &+ 5) & 15
                    default:
                        f = cc ^ (bb | ~dd)
                        g = (7 &* i) & 15
                    }
                    let word = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start &+ g &* 4, as: UInt32.self))
                    f = f &+ aa &+ k[i] &+ word
                    aa = dd
                    dd = cc
                    cc = bb
                    bb = bb &+ ((f << s[i]) | (f >> (32 &- s[i])))
                }
            }
        }
        a = a &+ aa
        b = b &+ bb
        c = c &+ cc
        d = d &+ dd
    }
}
