/// What every stored document body is: the rules `db put` (``StoreWriter/put(id:json:newEdits:)``),
/// the SQL triggers of the `documents` view and replication all enforce, so that a document one
/// door accepts is never refused at another.
///
/// A body is a JSON object (RFC 8259: UTF-8, no unescaped control characters, no lone surrogate
/// escapes) nested at most ``maximumDepth`` deep and at most ``maximumBodyBytes`` long. Its
/// stored text is the object from its opening to its closing brace with no white space just
/// inside them ("member-normal form"): that is what replication carries byte for byte.
package enum DocumentRules {
    /// The largest body, in bytes of its stored text: 256 MiB, half the largest response that
    /// may carry documents (`_bulk_get`, 512 MB), so that a body a store accepts always fits.
    package static let maximumBodyBytes = 256 * 1024 * 1024

    /// The deepest nesting of arrays and objects, the body object itself counting as 1.
    package static let maximumDepth = JSONReader.maximumDepth

    /// Why `bytes` (a whole stored body) breaks the rules, or nil when it keeps them.
    package static func problem(inBody bytes: [UInt8]) -> String? {
        if bytes.count > maximumBodyBytes {
            return "the body is \(bytes.count) bytes, more than the \(maximumBodyBytes) (256 MiB) a document may hold"
        }
        var reader = JSONReader(bytes)
        do {
            guard try reader.peekKind() == .object else { return "the body is not a JSON object" }
            try reader.skipValue()
            try reader.finish()
        } catch {
            return "the body is not acceptable JSON: \(error)"
        }
        return nil
    }

    /// Why the JSON document in `bytes[range]` (metadata and body, as replication carries it)
    /// is not valid JSON, or nil when it is.
    package static func problem(inDocument bytes: [UInt8], range: Range<Int>) -> String? {
        var reader = JSONReader(bytes, in: range)
        do {
            try reader.skipValue()
            try reader.finish()
        } catch {
            return "not acceptable JSON: \(error)"
        }
        return nil
    }
}
