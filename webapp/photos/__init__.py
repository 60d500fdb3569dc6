"""Photos: everything about an uploaded picture, for reports, store items and feedback screenshots.

``pipeline``    all image work (format sniffing, limits, EXIF stripping, resizing, hashes); no Flask imports
``rejections``  how a rejected photo answers: one table of HTTP status, error code and message per reason
``references``  whether a content-hash key is still used by any table that holds photo keys
"""
