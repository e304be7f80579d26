import Foundation

/// Writes the store's integer sequences the way the configured server kind does, and reads back
/// what clients send in `since`.
///
/// With ``FixtureServer/SequenceStyle/opaque`` a sequence is `"N-g1AAAA…"`: the store's number,
/// a dash, and base64url filler that encodes the number again. Decoding checks the filler, so
/// only sequences this server wrote (and `0` / `now`) are accepted; anything else gets CouchDB's
/// 400 `Malformed sequence supplied in 'since' parameter.`.
struct SequenceCodec: Sendable {
    var style: FixtureServer.SequenceStyle

    /// The sequence as JSON text: a quoted string or an integer.
    func json(_ seq: Int) -> String {
        switch style {
        case .integers: String(seq)
        case .opaque: JSONText.quoted(Self.opaque(seq))
        }
    }

    static func opaque(_ seq: Int) -> String {
        "\(seq)-g1AAAA" + filler(seq)
    }

    /// Base64url text, no padding, of a payload that names the sequence (encoded by hand: this
    /// runs for every row of every feed).
    static func filler(_ seq: Int) -> String {
        let payload = Array("bgsync-fixture-seq:\(seq):".utf8) + [0x83, 0x68, 0x02, 0x61, 0x00, 0x6E, 0x04, 0x00]
        var text: [UInt8] = []
        text.reserveCapacity(payload.count * 4 / 3 + 3)
        var index = 0
        while index < payload.count {
            let count = min(3, payload.count - index)
            var group = 0
            for offset in 0..<3 { group = group << 8 | (offset < count ? Int(payload[index + offset]) : 0) }
            for sextet in 0...count { text.append(base64URL[(group >> (18 - 6 * sextet)) & 63]) }
            index += 3
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static let base64URL = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Where a `since` value points.
    enum Since: Equatable {
        case seq(Int)
        case now
    }

    /// Parses a `since` value as sent in a query (not JSON-quoted) or as a JSON value's text.
    func decode(_ raw: String) throws(FixtureError) -> Since {
        var text = raw
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 {
            text = String(text.dropFirst().dropLast())
        }
        if text == "now" { return .now }
        if text == "0" || text.isEmpty { return .seq(0) }
        switch style {
        case .integers:
            if let value = Int(text), value >= 0 { return .seq(value) }
        case .opaque:
            if let dash = text.firstIndex(of: "-"), let value = Int(text[..<dash]), value >= 0,
               text[text.index(after: dash)...] == "g1AAAA" + Self.filler(value) {
                return .seq(value)
            }
        }
        throw FixtureError(400, "bad_request", "Malformed sequence supplied in 'since' parameter.")
    }
}
