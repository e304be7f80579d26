import BGSyncStore
import Foundation

/// `PUT /db/ID` with `Content-Type: multipart/related`: the document JSON in the first part,
/// one part per `_attachments` entry that has `"follows": true`.
///
/// What CouchDB 3.4.3 does (`chttpd_db:db_doc_req` → `couch_doc:doc_from_multi_part_stream`
/// → `couch_httpd_multipart`, `couch_att:flush_data`):
/// - the first part must be `Content-Type: application/json`, else 415 `bad_content_type`;
/// - the attachment parts are read in the order of the `follows` entries in `_attachments`:
///   their headers (`Content-Disposition` filenames too) are ignored;
/// - each attachment takes exactly `length` bytes: a longer part is 400 `bad_request`
///   `attachment longer than expected`, a shorter or missing one `attachment shorter than
///   expected`; parts after the last `follows` entry are ignored;
/// - a `digest` (`md5-…`) must be the MD5 of the bytes as sent, else `content_md5_mismatch`;
///   the stored digest is then CouchDB's own (of the gzip-compressed bytes for text types);
/// - stubs and inline `data` entries are handled as in a JSON body.
///
/// The fixture turns every `follows` entry into an inline `data` entry and hands the document
/// to the JSON write path, so the answer is the JSON `PUT`'s.
extension Routes {
    /// The document JSON that `request` carries: its body, or for a `multipart/related` body
    /// the first part with the attachment parts inlined.
    static func documentBody(_ request: CouchRequest) throws(FixtureError) -> [UInt8] {
        guard MultipartRelatedParser.mediaType(request.headers["content-type"]) == "multipart/related" else { return request.body }
        guard let boundary = MultipartRelatedParser.boundary(ofContentType: request.headers["content-type"] ?? "") else {
            throw FixtureError(400, "bad_request", "multipart/related needs a boundary parameter")
        }
        let multipart = try MultipartRelatedParser(body: request.body, boundary: boundary)
        guard let document = multipart.parts.first else {
            throw FixtureError(400, "bad_request", "The multipart body has no document part")
        }
        guard MultipartRelatedParser.mediaType(document.headers["content-type"]) == "application/json" else {
            throw FixtureError(415, "bad_content_type", "Content-Type must be application/json")
        }
        let json = Array(request.body[document.body])
        _ = try JSONText.parse(json)
        return try inliningFollows(json, parts: multipart.parts.dropFirst().map { request.body[$0.body] })
    }

    /// `json` with each `follows` entry of `_attachments` given the next of `parts` as base64
    /// `data`; other entries and members are kept byte for byte.
    static func inliningFollows(_ json: [UInt8], parts: [ArraySlice<UInt8>]) throws(FixtureError) -> [UInt8] {
        guard let members = try? RawJSONObject.members(ofObject: json),
              let attachments = members.last(where: { $0.key == "_attachments" }),
              let entries = try? RawJSONObject.members(ofObject: json, in: attachments.valueRange)
        else {
            // Not an object, or `_attachments` is not one: the JSON path words the error.
            return json
        }
        var remaining = parts[...]
        var rewritten: [UInt8] = [UInt8(ascii: "{")]
        for (index, entry) in entries.enumerated() {
            if index > 0 { rewritten.append(UInt8(ascii: ",")) }
            rewritten += json[entry.keyRange.lowerBound..<entry.valueRange.lowerBound]
            guard let object = (try? JSONValue.parse(json[entry.valueRange]))?.objectValue,
                  object["follows"]?.boolValue == true, object["stub"]?.boolValue != true
            else {
                rewritten += json[entry.valueRange]
                continue
            }
            guard let data = remaining.popFirst() else {
                throw FixtureError(400, "bad_request", "attachment shorter than expected")
            }
            rewritten += try inlined(json, entry: entry, object: object, data: data)
        }
        rewritten.append(UInt8(ascii: "}"))
        return Array(json[..<attachments.valueRange.lowerBound]) + rewritten + Array(json[attachments.valueRange.upperBound...])
    }

    /// One `follows` entry as an inline one: its members but `follows`, `stub`, `data` and
    /// `digest` (checked, then left for the write path to compute as CouchDB stores it), plus
    /// `data`.
    private static func inlined(_ json: [UInt8], entry: RawJSONMember, object: JSONObject,
                                data: ArraySlice<UInt8>) throws(FixtureError) -> [UInt8] {
        if object["encoding"] != nil {
            throw FixtureError(400, "bad_request", "fixture server: encoded (gzip) multipart attachments are not supported (\(entry.key))")
        }
        guard let length = object["length"]?.intValue else {
            throw FixtureError(400, "bad_request", "fixture server: the follows attachment \(entry.key) has no length (CouchDB cannot stream it)")
        }
        if data.count > length { throw FixtureError(400, "bad_request", "attachment longer than expected") }
        if data.count < length { throw FixtureError(400, "bad_request", "attachment shorter than expected") }
        if let digest = object["digest"]?.stringValue, digest.hasPrefix("md5-"),
           Data(base64Encoded: String(digest.dropFirst(4))).map(Array.init) != MD5.digest(data) {
            throw FixtureError(400, "content_md5_mismatch", "Possible message corruption.")
        }
        let dropped: Set<String> = ["follows", "stub", "data", "digest"]
        var out: [UInt8] = [UInt8(ascii: "{")]
        for member in (try? RawJSONObject.members(ofObject: json, in: entry.valueRange)) ?? [] where !dropped.contains(member.key) {
            out += json[member.keyRange.lowerBound..<member.valueRange.upperBound]
            out.append(UInt8(ascii: ","))
        }
        out += Array("\"data\":\"\(Data(data).base64EncodedString())\"}".utf8)
        return out
    }
}
