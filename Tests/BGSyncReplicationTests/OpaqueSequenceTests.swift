@testable import BGSyncTestSupport
import Foundation
import Testing

@Suite("The fixture's opaque sequences")
struct OpaqueSequenceTests {
    @Test("the filler is base64url without padding of the payload, and round-trips")
    func filler() throws {
        // A value written by an earlier build (Foundation's base64 with + / = replaced).
        #expect(SequenceCodec.opaque(20000) == "20000-g1AAAAYmdzeW5jLWZpeHR1cmUtc2VxOjIwMDAwOoNoAmEAbgQA")
        let codec = SequenceCodec(style: .opaque)
        for seq in [0, 1, 9, 10, 99, 100, 12345, 999_999, 1_000_000, Int.max] {
            let payload = Array("bgsync-fixture-seq:\(seq):".utf8) + [0x83, 0x68, 0x02, 0x61, 0x00, 0x6E, 0x04, 0x00]
            let expected = Data(payload).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(SequenceCodec.filler(seq) == expected, "seq \(seq)")
            #expect(try codec.decode(SequenceCodec.opaque(seq)) == .seq(seq))
        }
    }
}
