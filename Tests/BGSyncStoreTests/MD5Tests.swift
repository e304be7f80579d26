import Testing
import BGSyncStore

@Suite struct MD5Tests {
    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a"
        ),
    ])
    func matchesRFC1321TestSuite(input: String, expected: String) {
        #expect(MD5.hexDigest(Array(input.utf8)) == expected)
        #expect(MD5.hexDigest(input.utf8) == expected)
        #expect(MD5.hex(MD5.digest(Array(input.utf8))) == expected)
    }

    @Test(arguments: [
        (55, "ef1772b6dff9a122358552954ad0df65"),
        (56, "3b0c8ac703f828b04c6c197006d17218"),
        (57, "652b906d60af96844ebd21b674f35e93"),
        (63, "b06521f39153d618550606be297466d5"),
        (64, "014842d480b571495a4a0363793f7367"),
        (65, "c743a45e0d2e6a95cb859adae0248435"),
        (119, "8a7bd0732ed6a28ce75f6dabc90e1613"),
        (120, "5f61c0ccad4cac44c75ff505e1f1e537"),
        (127, "020406e1d05cdc2aa287641f7ae2cc39"),
        (128, "e510683b3f5ffe4093d021808bc6ff70"),
        (129, "b325dc1c6f5e7a2b7cf465b9feab7948"),
    ])
    func padsCorrectlyAroundBlockBoundaries(length: Int, expected: String) {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: length)
        #expect(MD5.hexDigest(input) == expected)
        // Byte-at-a-time must agree with one shot.
        var hasher = MD5Hasher()
        for byte in input { hasher.update([byte]) }
        #expect(hasher.finalizeHex() == expected)
    }

    @Test func digestIsSixteenBytes() {
        #expect(MD5.digest([UInt8]()).count == 16)
        #expect(MD5.digest(Array("abc".utf8)) == [
            0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72,
        ])
    }

    @Test func oneMegabyteInOddSizedChunksMatchesOneShot() {
        let count = 1 << 20
        var data = [UInt8](repeating: 0, count: count)
        for i in 0..<count { data[i] = UInt8(truncatingIfNeeded: (i &* 31 &+ 7)) ^ UInt8(truncatingIfNeeded: i >> 10) }
        let expected = "75a51fc17ccc032ca21f0834da332c8b"  // from an independent implementation
        #expect(MD5.hexDigest(data) == expected)

        var hasher = MD5Hasher()
        let sizes = [1, 3, 7, 63, 64, 65, 127, 1000, 4093, 13, 0, 8191]
        var index = 0
        var turn = 0
        while index < count {
            let size = min(sizes[turn % sizes.count], count - index)
            turn += 1
            data[index..<(index + size)].withUnsafeBytes { hasher.update($0) }
            index += size
        }
        #expect(hasher.finalizeHex() == expected)
    }

    @Test func finalizeResetsTheHasher() {
        var hasher = MD5Hasher()
        hasher.update(Array("garbage".utf8))
        _ = hasher.finalize()
        hasher.update(Array("abc".utf8))
        #expect(hasher.finalizeHex() == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test func acceptsNonContiguousSequences() {
        let bytes = (0..<10_000).lazy.map { UInt8(truncatingIfNeeded: $0) }
        #expect(MD5.hexDigest(bytes) == MD5.hexDigest(Array(bytes)))
    }
}
