"""The API group modules; importing this package registers every KindSpec."""
