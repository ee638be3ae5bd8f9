# frozen_string_literal: true

module PolyRPC
  # The gem's version: the version of libpolyrpc it was written for (PolyRPC.library_version
  # tells the loaded library's).
  VERSION = "0.2.0"
end
