print("lorabook")
