import Foundation
FileHandle.standardError.write("kinevox: not wired yet\n".data(using: .utf8)!)
exit(1)
