# RTSP: a request line or a status line (RFC 2326 section 6 and 7).
rtsp
^(options|describe|setup|play|pause|teardown|announce|record|get_parameter|set_parameter) [!-~]+ rtsp/1\.[0-9]|^rtsp/1\.[0-9] [1-5][0-9][0-9]
