import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An error as one sentence for a person: Foundation's file errors as `path: reason` instead of
/// `Error Domain=NSCocoaErrorDomain Code=4 …`, everything on one line.
public enum ErrorText {
    public static func sentence(_ error: any Error) -> String {
        let text: String
        let bridged = error as NSError
        if bridged.domain == NSCocoaErrorDomain {
            let path = (bridged.userInfo[NSFilePathErrorKey] as? String) ?? (bridged.userInfo[NSURLErrorKey] as? URL)?.path
            let reason = (bridged.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap(posixReason) ?? cocoaReason(bridged.code)
            text = path.map { "\($0): \(reason)" } ?? reason
        } else if let reason = posixReason(bridged) {
            text = reason
        } else {
            text = "\(error)"
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
    }

    private static func posixReason(_ error: NSError) -> String? {
        error.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(error.code))).lowercased() : nil
    }

    private static func cocoaReason(_ code: Int) -> String {
        switch CocoaError.Code(rawValue: code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: "no such file or directory"
        case .fileReadNoPermission, .fileWriteNoPermission: "permission denied"
        case .fileWriteOutOfSpace: "no space left on the device"
        case .fileWriteFileExists: "a file is already there"
        case .fileReadCorruptFile, .fileReadInapplicableStringEncoding: "not readable as text"
        case .fileReadTooLarge: "too large to read"
        default: "file error \(code)"
        }
    }
}
