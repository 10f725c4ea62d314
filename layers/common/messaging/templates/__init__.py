"""Templates: what each user receives (`compose`), checked before compiling (`guard`, `rewrite`),
compiled and rendered through the native Handlebars engine (`native`, `cache`, `compiled`,
`renderer`), with the handlebars-helpers catalogue (`helpers`)."""
