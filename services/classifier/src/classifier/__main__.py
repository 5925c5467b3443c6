from classifier.server import main

main()
