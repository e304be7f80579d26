import BGSyncStore

/// Small helpers for writing JSON text by hand (bodies from the store are spliced in verbatim).
enum JSONText {
    static func quoted(_ string: String) -> String {
        JSONString.quoted(string)
    }

    static func array(_ elements: some Sequence<String>) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }

    static func stringArray(_ strings: some Sequence<String>) -> String {
        array(strings.map(quoted))
    }

    /// `{"k":v,…}` from already-encoded values, in the given order.
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// Removes top-level members named `keys` from a JSON object's text without re-encoding
    /// the others.
    static func removing(_ keys: Set<String>, from json: String) -> String {
        let bytes = Array(json.utf8)
        guard let members = try? RawJSONObject.members(ofObject: bytes) else { return json }
        guard members.contains(where: { keys.contains($0.key) }) else { return json }
        return "{" + members.filter { !keys.contains($0.key) }
            .map { String(decoding: bytes[$0.keyRange.lowerBound..<$0.valueRange.upperBound], as: UTF8.self) }
            .joined(separator: ",") + "}"
    }

    /// Parses a JSON text, mapping failures to CouchDB's 400.
    static func parse(_ bytes: [UInt8]) throws(FixtureError) -> JSONValue {
        do {
            return try JSONValue.parse(bytes)
        } catch {
            throw FixtureError.invalidJSON
        }
    }
}

extension JSONText {
    /// The value of top-level member `key` of a JSON object's text, parsing only that member.
    static func member(_ key: String, in json: String) -> JSONValue? {
        let bytes = Array(json.utf8)
        guard let members = try? RawJSONObject.members(ofObject: bytes),
              let member = members.first(where: { $0.key == key })
        else { return nil }
        return try? JSONValue.parse(bytes[member.valueRange])
    }
}

extension JSONText {
    /// Valid JSON text without insignificant whitespace; strings and numbers are kept byte for
    /// byte (CouchDB answers with compact JSON whatever the writer sent). Only for text already
    /// known to be valid JSON.
    static func minified(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                out.append(byte)
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte != 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D {
                if byte == UInt8(ascii: "\"") { inString = true }
                out.append(byte)
            }
        }
        return out
    }
}
